"""Miner localization: datasets (``dataset``, ``generate``), training, evaluation and export of the models."""
