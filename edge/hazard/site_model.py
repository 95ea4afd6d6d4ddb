"""Which hazard model a site runs: the full-section model, or the sparse-site model at a site fitted with only a few
of the contract's transmitters.

The full-section model (``models/hazard``) was trained and validated on sections with every transmitter, a dead one
at most (its dead-channel thresholds, ``edge.hazard.availability``). At a site with three transmitters and no
camera or logbook, like the real gas record's, it is outside anything it was trained on and its probabilities say
hazard most of the time: on the real record a fire warning stood for 96 % of the time with readings, and on
simulated normal days at such a site it made 10 false warnings a day (session 7, selection split). A model trained
with sparse-site dropout (``models/hazard_sparse``) makes 0.6 there, but it gives up gas lead and dead-face-head
robustness on a full section, so no one model served both; the site's channel mapping, which is configuration and
not a transient state, chooses.

A site counts as sparse when more than ``FULL_MODEL_MAX_UNFITTED`` of the contract's channels have no transmitter:
the full model's validation covered one missing channel, nothing more. A transmitter that dies at run time does not
switch models: the mapping still names it, and the dead-channel thresholds are for that state.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

# channels a site may leave unmapped and still run the full-section model (its dead-channel thresholds cover one)
FULL_MODEL_MAX_UNFITTED = 1
SPARSE_SITE_MODEL = "hazard_sparse"  # the sparse-site model's directory beside models/hazard


def is_sparse_site(fitted: NDArray[np.bool_]) -> bool:
    """Whether a site with ``fitted`` channels (``edge.hazard.availability.fitted_mask``) runs the sparse-site
    model."""
    return int((~np.asarray(fitted, dtype=bool)).sum()) > FULL_MODEL_MAX_UNFITTED
