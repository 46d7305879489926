"""``python -m shoal``: the ``shoal`` command, for environments without its script on PATH."""

from shoal.cli import main

main()
