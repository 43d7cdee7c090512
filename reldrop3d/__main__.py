from reldrop3d.cli import main

raise SystemExit(main())
