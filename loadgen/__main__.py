"""``python -m loadgen``: the same as the ``loadgen`` command."""

import sys

from .cli import main

sys.exit(main())
