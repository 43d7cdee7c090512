"""``python -m reldrop3d.cli`` (e.g. under torchrun)."""

from reldrop3d.cli import main

raise SystemExit(main())
