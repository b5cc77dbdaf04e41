"""``python -m pytest_cdc.cli``: the ``pytest-cdc`` console script, where only Python is on PATH."""

from __future__ import annotations

import sys

from pytest_cdc.cli import main

sys.exit(main())
