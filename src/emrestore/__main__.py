"""``python -m emrestore``: the same as the ``emrestore`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
