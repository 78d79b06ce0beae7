"""``python -m seqline ...``: the ``seqline`` command line."""
import sys

from seqline.pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main())
