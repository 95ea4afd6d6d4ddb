"""The hazard model's one input tensor and one output vector: how the three modalities are packed, and what each
output column means. Training, evaluation, export and the gateway all pack with this module.

The inference stack checks, loads and runs single-input models (``edge.inference``: one ``(B, L, F)`` tensor in,
one ``(B, C)`` out, with a manifest, checksums and a reference check), so the fusion model takes its three
modalities as one *token sequence* rather than three tensors:

* rows ``[0, SENSOR_TOKENS)``: one token per ``SENSOR_TOKEN_S`` of the 30-min sensor window, oldest first, with
  per channel the mean, the change over the token (last - first valid sample) and the share of valid samples;
* rows ``SENSOR_TOKENS + [0, CAMERA_WINDOW_TOKENS)``: the camera tokens of ``edge.hazard.features.camera_tokens``
  (field means and the valid fraction);
* the last ``TEXT_MAX_ENTRIES`` rows: the text encoder's vector of each log entry of the window, newest first, its
  age as a share of the text window and a presence flag.

Each modality writes its own *column block*, so the per-column standardisation of the manifest is a true
per-feature standardisation; the model reads each modality's rows from its own block only. Packing leaves NaN
where nothing was measured (a channel in comm loss over a whole token); ``finite`` replaces it after
standardisation with 0, i.e. the training mean, and the valid-share columns tell the model the value is missing.
Share columns (a token's valid share, a camera token's valid fraction, a log slot's presence) are standardised
with fixed constants (``SHARE_MEAN``/``SHARE_STD``: 0..1 maps to -1..1), not with their training spread: a share is
almost always 1, so its spread is tiny and a dead transmitter became a value 40 standard deviations out, which the
network had barely seen and over-reacted to.

Outputs, in ``OUTPUT_LABELS`` order: hazard identification logits (multi-label, ``HAZARD_TYPES``), risk logits (a
statutory threshold crossed within each of ``RISK_HORIZONS_S``), and the face-methane forecast at
``FORECAST_HORIZONS_S`` in %vol.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from edge.hazard.contract import (
    CAMERA_FIELDS,
    CAMERA_WINDOW_TOKENS,
    CHANNEL_NAMES,
    FORECAST_CHANNEL,
    FORECAST_HORIZONS_S,
    HAZARD_TYPES,
    RISK_HORIZONS_S,
    SENSOR_WINDOW_S,
    TEXT_MAX_ENTRIES,
    TEXT_WINDOW_S,
)
from edge.hazard.features import CameraTokens

F32 = NDArray[np.float32]

SENSOR_TOKEN_S = 30
SENSOR_TOKENS = SENSOR_WINDOW_S // SENSOR_TOKEN_S
SENSOR_STATS: tuple[str, ...] = ("mean", "delta", "valid")
TEXT_EMBEDDING_DIM = 384  # the MiniLM sentence encoder (models/text/minilm)

SENSOR_ROWS = slice(0, SENSOR_TOKENS)
CAMERA_ROWS = slice(SENSOR_TOKENS, SENSOR_TOKENS + CAMERA_WINDOW_TOKENS)
TEXT_ROWS = slice(SENSOR_TOKENS + CAMERA_WINDOW_TOKENS, SENSOR_TOKENS + CAMERA_WINDOW_TOKENS + TEXT_MAX_ENTRIES)
ROWS = TEXT_ROWS.stop

_SENSOR_WIDTH = len(SENSOR_STATS) * len(CHANNEL_NAMES)
_CAMERA_WIDTH = len(CAMERA_FIELDS) + 1
SENSOR_COLUMNS = slice(0, _SENSOR_WIDTH)
CAMERA_COLUMNS = slice(_SENSOR_WIDTH, _SENSOR_WIDTH + _CAMERA_WIDTH)
TEXT_COLUMNS = slice(CAMERA_COLUMNS.stop, CAMERA_COLUMNS.stop + TEXT_EMBEDDING_DIM + 2)
COLUMNS = TEXT_COLUMNS.stop

FEATURE_NAMES: tuple[str, ...] = (
    *(f"sensor.{stat}.{channel}" for stat in SENSOR_STATS for channel in CHANNEL_NAMES),
    *(f"camera.{field}" for field in CAMERA_FIELDS),
    "camera.valid",
    *(f"text.embedding.{i}" for i in range(TEXT_EMBEDDING_DIM)),
    "text.age",
    "text.present",
)

HAZARD_OUTPUTS = slice(0, len(HAZARD_TYPES))
RISK_OUTPUTS = slice(HAZARD_OUTPUTS.stop, HAZARD_OUTPUTS.stop + len(RISK_HORIZONS_S))
FORECAST_OUTPUTS = slice(RISK_OUTPUTS.stop, RISK_OUTPUTS.stop + len(FORECAST_HORIZONS_S))
OUTPUT_LABELS: tuple[str, ...] = (
    *(f"hazard:{h.value}" for h in HAZARD_TYPES),
    *(f"risk:{h}s" for h in RISK_HORIZONS_S),
    *(f"forecast:{FORECAST_CHANNEL}:+{h}s" for h in FORECAST_HORIZONS_S),
)

SHARE_MEAN = 0.5
SHARE_STD = 0.5
SHARE_FEATURES: tuple[int, ...] = tuple(
    i
    for i, name in enumerate(FEATURE_NAMES)
    if name.startswith("sensor.valid.") or name in ("camera.valid", "text.present")
)

if len(FEATURE_NAMES) != COLUMNS:  # the layout above and the names must describe the same columns
    raise RuntimeError(f"{len(FEATURE_NAMES)} feature names for {COLUMNS} columns")


def sensor_block(window: F32) -> F32:
    """``(SENSOR_TOKENS, 3 * channels)``: per token and channel the mean, last - first valid sample, valid share.

    ``window`` is ``edge.hazard.features.sensor_window``'s ``(SENSOR_WINDOW_S, channels)``, NaN where missing.
    A channel with no valid sample in a token has NaN mean; fewer than two valid samples give NaN change.
    """
    if window.shape != (SENSOR_WINDOW_S, len(CHANNEL_NAMES)):
        raise ValueError(f"sensor window must be ({SENSOR_WINDOW_S}, {len(CHANNEL_NAMES)}), got {window.shape}")
    tokens = window.reshape(SENSOR_TOKENS, SENSOR_TOKEN_S, len(CHANNEL_NAMES))
    ok = np.isfinite(tokens)
    count = ok.sum(axis=1)
    sums = np.where(ok, tokens, 0.0).sum(axis=1)
    mean = np.divide(sums, count, out=np.full(sums.shape, np.nan, dtype=np.float64), where=count > 0)
    steps = np.arange(SENSOR_TOKEN_S)[None, :, None]
    first = np.where(ok, steps, SENSOR_TOKEN_S).argmin(axis=1)
    last = SENSOR_TOKEN_S - 1 - np.where(ok[:, ::-1], steps, SENSOR_TOKEN_S).argmin(axis=1)
    first_v = np.take_along_axis(tokens, first[:, None, :], axis=1)[:, 0]
    last_v = np.take_along_axis(tokens, last[:, None, :], axis=1)[:, 0]
    delta = np.where(count >= 2, last_v - first_v, np.nan)
    out = np.concatenate([mean, delta, count / SENSOR_TOKEN_S], axis=1)
    return out.astype(np.float32)


def pack(
    sensor_tokens: F32,
    camera: CameraTokens,
    text_vectors: F32,
    text_age_s: Sequence[float] | F32,
) -> F32:
    """The ``(ROWS, COLUMNS)`` model input, unstandardised (NaN where a sensor token measured nothing).

    ``sensor_tokens`` is ``sensor_block``'s output; ``text_vectors`` the encoder rows of the window's entries,
    newest first, at most ``TEXT_MAX_ENTRIES`` (``(0, TEXT_EMBEDDING_DIM)`` when there are none), with their ages.
    """
    if sensor_tokens.shape != (SENSOR_TOKENS, _SENSOR_WIDTH):
        raise ValueError(f"sensor tokens must be ({SENSOR_TOKENS}, {_SENSOR_WIDTH}), got {sensor_tokens.shape}")
    if camera.values.shape != (CAMERA_WINDOW_TOKENS, _CAMERA_WIDTH):
        raise ValueError(f"camera tokens must be ({CAMERA_WINDOW_TOKENS}, {_CAMERA_WIDTH}), got {camera.values.shape}")
    entries = text_vectors.shape[0]
    if text_vectors.ndim != 2 or text_vectors.shape[1] != TEXT_EMBEDDING_DIM or entries > TEXT_MAX_ENTRIES:
        raise ValueError(
            f"text vectors must be (at most {TEXT_MAX_ENTRIES}, {TEXT_EMBEDDING_DIM}), got {text_vectors.shape}: "
            "the hazard model reads the MiniLM sentence encoder's 384-d rows"
        )
    if len(text_age_s) != entries:
        raise ValueError(f"{entries} text vectors but {len(text_age_s)} ages")
    out = np.zeros((ROWS, COLUMNS), dtype=np.float32)
    out[SENSOR_ROWS, SENSOR_COLUMNS] = sensor_tokens
    out[CAMERA_ROWS, CAMERA_COLUMNS] = camera.values
    text_rows = np.arange(TEXT_ROWS.start, TEXT_ROWS.start + entries)
    out[text_rows, TEXT_COLUMNS.start : TEXT_COLUMNS.start + TEXT_EMBEDDING_DIM] = text_vectors
    out[text_rows, TEXT_COLUMNS.stop - 2] = np.asarray(text_age_s, dtype=np.float32) / TEXT_WINDOW_S
    out[text_rows, TEXT_COLUMNS.stop - 1] = 1.0
    return out


# Standardised inputs are clipped to +-INPUT_CLIP standard deviations: a value far outside anything seen in training
# (CO at the transmitter's top of range, a methane step of an outburst) says "extreme" as clearly at 12 sd as at 40,
# and int8 calibration keeps its resolution for the values that matter instead of stretching a scale to outliers.
INPUT_CLIP = 12.0


def finite(standardised: F32) -> F32:
    """The standardised input with NaN (not measured) set to 0, the training mean, and clipped to ``INPUT_CLIP``:
    what the model file is fed."""
    out: F32 = np.clip(np.nan_to_num(standardised, nan=0.0, posinf=0.0, neginf=0.0), -INPUT_CLIP, INPUT_CLIP).astype(
        np.float32
    )
    return out
