"""Evaluation of hazard early warning (issue 5, item 4): warning records and their merging, event-level scoring,
the non-neural baselines, the evaluation run and its report.

``warnings`` (the operator-facing warning and the rate limiting that makes it), ``scoring`` (event matching, lead
time, false warnings per gateway-day, forecast error), ``predictor`` (the interface every predictor implements),
``features`` (window features of the gradient-boosted trees), ``baselines`` (threshold only, linear trend,
gradient-boosted trees), ``data`` (held-out episode sets), ``real_data`` (the real gas record and seismic-bumps),
``evaluate`` (the command) and ``report`` (results.json, report.md, plots).
"""
