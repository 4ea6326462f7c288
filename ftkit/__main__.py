"""``python -m ftkit ...`` is the ``ftkit`` command."""

import sys

from ftkit.tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
