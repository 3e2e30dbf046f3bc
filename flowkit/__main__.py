"""``python -m flowkit``: the command line."""

from flowkit.cli import main

raise SystemExit(main())
