"""``python -m edge.sim.hazard``: see ``edge.sim.hazard.cli``."""

from edge.sim.hazard.cli import main

raise SystemExit(main())
