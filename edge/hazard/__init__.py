"""The hazard early-warning task: the feature contract its model, its data generator and the gateway share."""
