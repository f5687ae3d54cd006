import sys

from snakepit.cuda.cli import main

sys.exit(main())
