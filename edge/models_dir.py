"""Where the shipped models are: one answer for every part of the gateway that has a default model directory.

In order: ``MINEGATE_MODELS`` (a site or a test points elsewhere); the ``models/`` folder of a source checkout
(``make demo``, ``make test``, an editable install); ``models/`` beside the virtual environment (the offline
installer puts each release's models in the release directory, which is also its venv); and the installed
gateway's ``/opt/minegate/models`` link to the current release.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_VAR = "MINEGATE_MODELS"
INSTALLED = Path("/opt/minegate/models")
_CHECKOUT = Path(__file__).resolve().parents[1] / "models"


def shipped_models_dir() -> Path:
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    for candidate in (_CHECKOUT, Path(sys.prefix) / "models"):
        if (candidate / "README.md").is_file() or any(candidate.glob("*/manifest.json")):
            return candidate
    return INSTALLED


def shipped_model(*parts: str) -> Path:
    """A shipped model's directory, e.g. ``shipped_model("text", "minilm")``."""
    return shipped_models_dir().joinpath(*parts)
