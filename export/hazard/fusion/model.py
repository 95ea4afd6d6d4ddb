"""The multimodal fusion network (issue 5, the source paper's design made small).

Per-modality encoders turn each block of the packed input (``edge.hazard.model_input``) into tokens of width
``d``: a linear map of the sensor token statistics plus a 1-D convolution over time (local trend), a linear map of
the camera tokens, a linear map of each log entry's sentence vector and age. A learned summary token and every
modality's tokens then go through ``layers`` pre-norm transformer blocks: each token attends to all tokens of all
modalities, which is the cross-modal attention of the paper (sensor tokens read the camera and the logs, and the
other way round). Tokens of a missing modality -- a camera token with no valid frame, an empty log slot -- are
masked out of every attention (a large negative score, not -inf: the export formats and int8 kernels handle a
finite mask without NaN), so a dead camera or an empty logbook is *absence*, not a zero-valued input. The summary
token feeds three heads: hazard identification logits (multi-label), risk logits (statutory threshold within
5/10/15 min) and the face-methane forecast, predicted as a change from the last observed face methane.

The input arrives standardised with the manifest's normalisation and NaN replaced by 0 (``model_input.finite``);
the masks are recovered from the standardised valid-share columns with the normalisation's constants, which are
baked into the graph.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from edge.hazard.contract import (
    CAMERA_WINDOW_TOKENS,
    CHANNEL_INDEX,
    CHANNEL_NAMES,
    FORECAST_CHANNEL,
    FORECAST_HORIZONS_S,
    HAZARD_TYPES,
    RISK_HORIZONS_S,
    TEXT_MAX_ENTRIES,
)
from edge.hazard.model_input import (
    CAMERA_COLUMNS,
    CAMERA_ROWS,
    SENSOR_COLUMNS,
    SENSOR_ROWS,
    SENSOR_TOKENS,
    TEXT_COLUMNS,
    TEXT_ROWS,
)

MASKED = -1e4
_CAMERA_VALID = CAMERA_COLUMNS.stop - 1
_TEXT_PRESENT = TEXT_COLUMNS.stop - 1
_CH4_MEAN = SENSOR_COLUMNS.start + CHANNEL_INDEX[FORECAST_CHANNEL]
OUTPUTS = len(HAZARD_TYPES) + len(RISK_HORIZONS_S) + len(FORECAST_HORIZONS_S)


class Block(nn.Module):
    """Pre-norm transformer block with an additive key mask (written out: every matmul is a MatMul in ONNX,
    the op the int8 quantizer targets)."""

    def __init__(self, d: int, heads: int, ff: int, dropout: float) -> None:
        super().__init__()
        if d % heads:
            raise ValueError(f"d={d} must be a multiple of heads={heads}")
        self.heads = heads
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, key_bias: Tensor) -> Tensor:
        b, t, d = x.shape
        h = self.heads
        q, k, v = self.qkv(self.norm1(x)).reshape(b, t, 3, h, d // h).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) * (1.0 / math.sqrt(d // h)) + key_bias[:, None, None, :]
        attended = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.drop(self.proj(attended))
        out: Tensor = x + self.drop(self.ff(self.norm2(x)))
        return out


class FusionNet(nn.Module):
    def __init__(
        self,
        *,
        mean: Tensor,
        std: Tensor,
        d: int = 32,
        heads: int = 4,
        layers: int = 2,
        ff: int = 64,
        dropout: float = 0.1,
    ) -> None:
        """``mean``/``std``: the manifest normalisation (per input column), for the masks and the forecast base."""
        super().__init__()
        self.config = {"d": d, "heads": heads, "layers": layers, "ff": ff, "dropout": dropout}
        # a valid share above half a frame's worth counts as present (a token holds >= 12 frames at 0.2 Hz)
        self.camera_cut = float((0.5 / 60 - mean[_CAMERA_VALID]) / std[_CAMERA_VALID])
        self.text_cut = float((0.5 - mean[_TEXT_PRESENT]) / std[_TEXT_PRESENT])
        self.ch4_mean = float(mean[_CH4_MEAN])
        self.ch4_std = float(std[_CH4_MEAN])
        sensor_width = SENSOR_COLUMNS.stop - SENSOR_COLUMNS.start
        self.sensor_in = nn.Linear(sensor_width, d)
        self.sensor_conv = nn.Conv1d(sensor_width, d, kernel_size=5, padding=2)
        self.camera_in = nn.Linear(CAMERA_COLUMNS.stop - CAMERA_COLUMNS.start, d)
        self.text_in = nn.Linear(TEXT_COLUMNS.stop - TEXT_COLUMNS.start, d)
        tokens = 1 + SENSOR_TOKENS + CAMERA_WINDOW_TOKENS + TEXT_MAX_ENTRIES
        self.position = nn.Parameter(torch.randn(tokens, d) * 0.02)
        self.summary = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.blocks = nn.ModuleList(Block(d, heads, ff, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, OUTPUTS)
        self.forecast_scale = 1.0  # %vol per unit of the forecast head

    def encode(self, x: Tensor) -> Tensor:
        """Every token after the last block ``(B, 1 + tokens, d)``: the summary token first, then sensors, camera,
        text (the pre-training head reads the sensor tokens)."""
        b = x.shape[0]
        sensors = x[:, SENSOR_ROWS, SENSOR_COLUMNS]
        camera = x[:, CAMERA_ROWS, CAMERA_COLUMNS]
        text = x[:, TEXT_ROWS, TEXT_COLUMNS]
        s = self.sensor_in(sensors) + self.sensor_conv(sensors.transpose(1, 2)).transpose(1, 2)
        c = self.camera_in(camera)
        t = self.text_in(text)
        tokens = torch.cat([self.summary.expand(b, -1, -1), s, c, t], dim=1) + self.position
        always = torch.zeros(b, 1 + SENSOR_TOKENS, dtype=x.dtype, device=x.device)
        camera_bias = torch.where(camera[:, :, -1] > self.camera_cut, 0.0, MASKED)
        text_bias = torch.where(text[:, :, -1] > self.text_cut, 0.0, MASKED)
        key_bias = torch.cat([always, camera_bias, text_bias], dim=1)
        for block in self.blocks:
            tokens = block(tokens, key_bias)
        normed: Tensor = self.norm(tokens)
        return normed

    def forward(self, x: Tensor) -> Tensor:
        out = self.head(self.encode(x)[:, 0])
        sensors = x[:, SENSOR_ROWS, SENSOR_COLUMNS]
        hazard_risk = out[:, : len(HAZARD_TYPES) + len(RISK_HORIZONS_S)]
        last_ch4 = sensors[:, -1, CHANNEL_NAMES.index(FORECAST_CHANNEL)] * self.ch4_std + self.ch4_mean
        forecast = last_ch4[:, None] + out[:, len(HAZARD_TYPES) + len(RISK_HORIZONS_S) :] * self.forecast_scale
        return torch.cat([hazard_risk, forecast], dim=1)
