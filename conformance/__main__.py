"""`python -m conformance`: the same program as the `conformance` console script."""

import sys

from conformance.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
