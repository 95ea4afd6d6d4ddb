"""Evaluation of hazard early warning (issue 5, item 4): warning records and their merging, event-level scoring,
the non-neural baselines, the evaluation run and its report.

``warnings`` (the operator-facing warning and the rate limiting that makes it), ``scoring`` (event matching, lead
time, false warnings per gateway-day, forecast error), ``predictor`` (the ``Predictor`` interface every predictor
implements, the neural model included), ``window_features`` (hand-made window features), ``baselines`` (threshold
only, linear trend), ``gbt`` (gradient-boosted trees and their modality ablations), ``data`` (held-out episode
sets, degraded copies), ``real_data`` (the real gas record and seismic-bumps), ``evaluate`` (the command) and
``report`` (results.json, report.md, plots).

A new predictor subclasses ``predictor.Predictor`` (``fit``, ``tracks``, optionally ``forecast``) and is scored
by ``evaluate.score_predictor`` / ``scoring.scoreboard`` exactly like the baselines.
"""
