"""Entry point: `python scripts/seqpack/__main__.py ARGS` (what scripts/seqserve-pack runs) or
`python -m seqpack ARGS` with scripts/ on the path."""
import os
import sys

if not __package__:
    # Run as a file: make `seqpack` importable from its parent folder (and nothing from here).
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from seqpack.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
