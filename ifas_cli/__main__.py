"""``python -m ifas_cli ...`` is the ``ifas`` console script."""

from ifas_cli import main

main()
