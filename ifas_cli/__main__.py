"""``python -m ifas_cli ...`` is the ``ifas`` console script."""

import sys

from ifas_cli import main

sys.exit(main())
