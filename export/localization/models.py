"""The localization networks. All take ``(B, L, F)`` float32 standardised windows and return logits ``(B, C)``.

Export-friendly by construction: plain ``nn.Conv1d`` / ``nn.LSTM`` / ``nn.Linear`` / ``nn.Embedding``,
fixed shapes, no data-dependent control flow (the ONNX and TFLite exporters trace one path).

- ``paper_cnn_lstm``: the paper's model: Conv1D + BatchNorm + ReLU + MaxPool(2) -> LSTM -> Dropout -> Dense,
  Xavier initialisation (softmax is applied outside, on the logits).
- ``lstm_only``: the LSTM baseline of the issue: LSTM -> Dropout -> Dense.
- ``ours``: with a layout, a *relative-move* model: an LSTM over the window plus the last step's features
  scores the moves "stay" / "one pillar north" / ... (a small lattice of offsets), and each move is mapped to
  the pillar at the last known pillar's centre plus that offset, by geometry (see ``RelativeMoveHead``). The
  same weights serve every pillar, so a pillar seen rarely (or never) in training is predicted as well as a
  busy one, which a per-class dense layer cannot do. Without a layout: the last pillar's learned embedding
  joins the LSTM summary and a learned "stay" bonus is added to the last pillar's logit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

KINDS = ("paper_cnn_lstm", "lstm_only", "ours")
MISMATCH_CAP = 60.0


def _xavier(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv1d | nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LSTM):
            for name, p in m.named_parameters():
                if name.startswith("weight"):
                    nn.init.xavier_uniform_(p)
                else:
                    nn.init.zeros_(p)
                    # Forget-gate bias 1 (gate order i, f, g, o): the usual remedy for early vanishing memory.
                    h = p.shape[0] // 4
                    with torch.no_grad():
                        p[h : 2 * h].fill_(1.0)


class PaperCnnLstm(nn.Module):
    def __init__(
        self, n_features: int, n_classes: int, *, filters: int, kernel: int, lstm_units: int, dropout: float
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(n_features, filters, kernel, padding=kernel // 2)
        self.bn = nn.BatchNorm1d(filters)
        self.pool = nn.MaxPool1d(2, ceil_mode=True)
        self.lstm = nn.LSTM(filters, lstm_units, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.dense = nn.Linear(lstm_units, n_classes)
        _xavier(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.conv(x.transpose(1, 2))))
        h = self.pool(h).transpose(1, 2)
        out, _ = self.lstm(h)
        out_last: torch.Tensor = self.dense(self.drop(out[:, -1, :]))
        return out_last


class LstmOnly(nn.Module):
    def __init__(self, n_features: int, n_classes: int, *, lstm_units: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_features, lstm_units, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.dense = nn.Linear(lstm_units, n_classes)
        _xavier(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        logits: torch.Tensor = self.dense(self.drop(out[:, -1, :]))
        return logits


class RelativeMoveHead(nn.Module):
    """Move scores ``(B, K)`` -> pillar logits ``(B, C)`` by geometry.

    Move ``k`` lands at ``anchor + offsets[k]`` (anchor: the last known pillar's centre). Pillar ``c``'s logit is
    ``logsumexp_k(move_k - sharpness * |centre_c - anchor - offset_k|^2 / spacing^2)``: a pillar exactly at a
    move's landing point gets that move's score, any other pillar is pushed down by at least ``sharpness``
    per squared pillar spacing of mismatch. Broadcast arithmetic only (no MatMul), so int8 dynamic
    quantisation leaves the geometry in float.
    """

    def __init__(self, centres: NDArray[Any], offsets: NDArray[Any], *, sharpness: float = 50.0) -> None:
        super().__init__()
        c = torch.as_tensor(np.asarray(centres, dtype=np.float32))
        o = torch.as_tensor(np.asarray(offsets, dtype=np.float32))
        d = torch.cdist(c, c)
        d = d + torch.eye(c.shape[0]) * float(d.max().item() + 1.0)
        spacing = float(d.min().item()) if c.shape[0] > 1 else 1.0
        self.register_buffer("centres", c)
        self.register_buffer("offsets", o)
        self.scale = sharpness / (spacing * spacing)

    def forward(self, moves: torch.Tensor, anchor: torch.Tensor) -> torch.Tensor:
        centres = self.get_buffer("centres")
        offsets = self.get_buffer("offsets")
        landing = anchor[:, None, :] + offsets[None, :, :]  # (B, K, 2)
        diff = centres[None, None, :, :] - landing[:, :, None, :]  # (B, K, C, 2)
        # Capped: beyond MISMATCH_CAP the pillar is out of the running anyway, and unbounded logits (thousands
        # for far pillars) would make exported float kernels differ from PyTorch by more than any tolerance.
        mismatch = ((diff * diff).sum(dim=-1) * self.scale).clamp(max=MISMATCH_CAP)  # (B, K, C)
        return torch.logsumexp(moves[:, :, None] - mismatch, dim=1)


class Ours(nn.Module):
    """LSTM summary of the window + the last step's features -> MLP -> relative moves (with a layout) or
    classes (without). See the module docstring."""

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        *,
        lstm_units: int,
        dropout: float,
        hidden: int,
        centres: NDArray[Any] | None,
        offsets: NDArray[Any] | None,
        anchor_cols: tuple[int, int] | None,
        pillar_col: int | None,
        embed_dim: int = 16,
        blind_cols: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        # Columns the network does not read (still used as the anchor): absolute layout coordinates make the
        # move scores depend on where in the mine the miner is, which does not transfer to rarely seen pillars.
        keep = torch.ones(n_features)
        keep[list(blind_cols)] = 0.0
        self.register_buffer("keep", keep)
        self.lstm = nn.LSTM(n_features, lstm_units, batch_first=True)
        self.geometric = centres is not None and offsets is not None and anchor_cols is not None
        self.anchor_cols = anchor_cols or (0, 0)
        self.pillar_col = pillar_col if pillar_col is not None else -1
        self.use_embedding = not self.geometric and pillar_col is not None
        extra = embed_dim if self.use_embedding else 0
        self.embed = nn.Embedding(n_classes, embed_dim) if self.use_embedding else None
        n_out = len(offsets) if self.geometric and offsets is not None else n_classes
        self.mlp = nn.Sequential(
            nn.Linear(lstm_units + n_features + extra, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_out),
        )
        self.head = (
            RelativeMoveHead(centres, offsets)
            if self.geometric and centres is not None and offsets is not None
            else None
        )
        self.stay = nn.Parameter(torch.tensor(2.0)) if self.use_embedding else None
        self.n_classes = n_classes
        _xavier(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = x[:, -1, :]
        seen = x * self.get_buffer("keep")
        out, _ = self.lstm(seen)
        parts = [out[:, -1, :], seen[:, -1, :]]
        pillar = last[:, self.pillar_col].round().long() if self.use_embedding else None
        if self.embed is not None and pillar is not None:
            parts.append(self.embed(pillar.clamp(0, self.n_classes - 1)))
        scores: torch.Tensor = self.mlp(torch.cat(parts, dim=1))
        if self.head is not None:
            anchor = torch.stack([last[:, self.anchor_cols[0]], last[:, self.anchor_cols[1]]], dim=1)
            logits: torch.Tensor = self.head(scores, anchor)
            return logits
        if self.stay is not None and pillar is not None:
            classes = torch.arange(self.n_classes, device=x.device)
            onehot = (classes[None, :] == pillar[:, None]).to(scores.dtype)
            scores = scores + self.stay * onehot
        return scores


def build_model(
    kind: str,
    *,
    n_features: int,
    n_classes: int,
    window: int,
    filters: int = 64,
    kernel: int = 3,
    lstm_units: int = 64,
    dropout: float = 0.5,
    **kw: Any,
) -> nn.Module:
    """A fresh model. ``ours`` takes ``centres`` (C, 2), ``offsets`` (K, 2), ``anchor_cols`` (2 feature indices of
    the last pillar's geo_ centre) for the geometric head, or ``pillar_col`` for the embedding fallback, and
    ``hidden`` (MLP width); ``model_kwargs`` in ``train`` derives them from a ``WindowSet``."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if kind == "paper_cnn_lstm":
        return PaperCnnLstm(
            n_features, n_classes, filters=filters, kernel=kernel, lstm_units=lstm_units, dropout=dropout
        )
    if kind == "lstm_only":
        return LstmOnly(n_features, n_classes, lstm_units=lstm_units, dropout=dropout)
    if kind == "ours":
        anchor = kw.get("anchor_cols")
        return Ours(
            n_features,
            n_classes,
            lstm_units=lstm_units,
            dropout=dropout,
            hidden=int(kw.get("hidden", 2 * filters)),
            centres=kw.get("centres"),
            offsets=kw.get("offsets"),
            anchor_cols=(int(anchor[0]), int(anchor[1])) if anchor is not None else None,
            pillar_col=kw.get("pillar_col"),
            blind_cols=tuple(int(c) for c in kw.get("blind_cols", ())),
        )
    raise ValueError(f"unknown model kind {kind!r}; kinds: {', '.join(KINDS)}")
