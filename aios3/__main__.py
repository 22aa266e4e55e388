"""``python -m aios3``: the command line (see ``aios3 --help``)."""

import sys

from .cli import main

sys.exit(main())
