import sys

from tools.cuda.cli import main

sys.exit(main())
