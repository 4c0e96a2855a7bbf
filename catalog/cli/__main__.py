"""``python -m catalog.cli``: the ``voxcat`` command."""

import sys

from . import main

sys.exit(main())
