"""On-gateway inference: model manifests, runtime backends and the worker that runs them off the loop."""
