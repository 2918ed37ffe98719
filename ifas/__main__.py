"""``python -m ifas ...`` is the ``ifas`` console script."""

import sys

from ifas.cli import main

sys.exit(main())
