"""minegate training, evaluation and model export (needs the ``train`` extra)."""
