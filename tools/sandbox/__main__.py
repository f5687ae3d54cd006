import sys

from tools.sandbox.cli import main

sys.exit(main())
