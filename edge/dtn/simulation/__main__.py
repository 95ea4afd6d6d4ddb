"""``python -m edge.dtn.simulation``: the simulation CLI (see ``cli``)."""

import sys

from edge.dtn.simulation.cli import main

sys.exit(main())
