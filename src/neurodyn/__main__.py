import sys

from neurodyn.cli import main

sys.exit(main())
