import sys

from snakepit.sandbox.cli import main

sys.exit(main())
