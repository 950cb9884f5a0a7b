"""``python -m retention`` runs the command line."""

import sys

from retention.cli import main

if __name__ == "__main__":
    sys.exit(main())
