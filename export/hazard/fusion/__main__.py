from export.hazard.fusion.cli import main

raise SystemExit(main())
