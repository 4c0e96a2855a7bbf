"""The background refresher: ``python -m catalog.index.listing INDEX [--lock-fd N]``."""

import sys

from .refresher import _background

if __name__ == "__main__":  # pragma: no cover - run as the background refresher
    args = sys.argv[1:]
    fd = int(args[args.index("--lock-fd") + 1]) if "--lock-fd" in args else None
    sys.exit(_background(args[0], lock_fd=fd))
