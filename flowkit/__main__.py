"""``python -m flowkit``: the command line."""

from flowkit.cli import entry_point

entry_point()
