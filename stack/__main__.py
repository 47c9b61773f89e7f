"""Entry point of `python -m stack` (see stack/cli.py)."""

import sys

from stack.cli import main

sys.exit(main())
