"""Seeded, physically plausible hazard scenarios for training and evaluating the hazard early-warning model.

``HazardScenarioGenerator`` (``generator``) composes one module per physical process (``ventilation``, ``fire``,
``equipment``, ``strata``, ``people``) on top of normal operation (``operations``), adds sensor faults
(``faults``), writes log entries (``logbook``) and computes the ground truth with the gateway's own statutory
thresholds (``ground_truth``). ``episode`` holds the result and reads / writes it as compressed npz.
"""
