"""Where :func:`cli_value` was before the command line became :mod:`catalog.cli`:
kept so ``from catalog.cli_catalogue import cli_value`` goes on working. The value
syntax lives in :mod:`catalog.querytext`.

>>> cli_value("CT,MR")
['CT', 'MR']
"""

from __future__ import annotations

from .querytext import read_value as cli_value

__all__ = ["cli_value"]
