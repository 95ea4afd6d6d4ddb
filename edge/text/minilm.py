"""MiniLM sentence embeddings on the gateway: a WordPiece tokenizer and an ONNX file on onnxruntime.

The ONNX file (written by ``export.text.export_minilm``) takes one float32 tensor ``tokens`` of shape
``(batch, length, 2)``: per token position its WordPiece id and its attention mask (1 for a token, 0 for padding).
Token ids are carried in float32, which holds every integer up to 2**24 exactly (the vocabulary has 30,522), so
the file fits the gateway's one-float-input backend and its manifest checks unchanged. The graph does the rest:
BERT, mean pooling over the real tokens, L2 normalisation; it returns ``sentence_embedding`` ``(batch, 384)``.

Loading goes through ``edge.inference.model.load_model`` (manifest valid, sha256, tensor contract, reference
token rows -> reference embeddings within tolerance), then the tokenizer is checked the same way: its sha256 must
match the manifest, and it must turn the manifest's reference texts into exactly the reference token rows. So the
whole path text -> tokens -> embedding is verified before the first real entry is encoded; any failure is a
``ModelRefused`` naming the check.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from edge.inference.manifest import Manifest, sha256_of
from edge.inference.model import LoadedModel, ModelRefused, load_model
from edge.text.encoder import Float32Array, check_texts, l2_normalise

__all__ = ["TEXT_EMBEDDING_TASK", "MiniLmEncoder", "WordPieceTokens", "tokens_array"]

_log = logging.getLogger(__name__)

TEXT_EMBEDDING_TASK = "text_embedding"
# Texts per onnxruntime call: one. Dynamic int8 quantizes activations with one scale per tensor, so in a batch a
# text's vector depends on the other texts and on the padding (retrieval P@1 on the paraphrases moved by 2 of 30
# queries between chunks of 32 and of 8); one at a time, a text always gets the same vector, which a case base
# needs. It costs nothing on one thread (measured 1.9 ms per entry alone, 2.2 ms in batches of 32, where padding
# to the longest text is wasted work), and onnxruntime's memory arena, which keeps the peak of the largest call,
# stays small: 32 texts of 128 tokens in one call left RSS 280 MiB above the baseline, chunks of 8 109 MiB.
CHUNK = 1


class WordPieceTokens:
    """The exported model's tokenizer (``tokenizer.json``), truncating to ``max_length`` tokens including
    ``[CLS]``/``[SEP]``."""

    def __init__(self, path: Path, *, max_length: int) -> None:
        if max_length < 3:
            raise ValueError(f"max_length must be >= 3 ([CLS], one token, [SEP]), got {max_length}")
        self._tokenizer = Tokenizer.from_file(str(path))
        # The file may carry the upstream padding/truncation settings: the runtime decides both itself.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_length)
        pad = self._tokenizer.token_to_id("[PAD]")
        if pad is None:
            raise ValueError(f"{path}: the tokenizer has no [PAD] token; it is not a BERT WordPiece tokenizer")
        self.pad_id = int(pad)
        self.max_length = max_length
        self.path = path

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [list(encoding.ids) for encoding in self._tokenizer.encode_batch(list(texts))]

    def batch(self, texts: Sequence[str]) -> Float32Array:
        """``(len(texts), longest, 2)`` float32: token ids and attention mask, padded to the longest text."""
        return tokens_array(self.ids(texts), pad_id=self.pad_id)


def tokens_array(ids: Sequence[Sequence[int]], *, pad_id: int = 0) -> Float32Array:
    length = max((len(row) for row in ids), default=0)
    out = np.zeros((len(ids), length, 2), dtype=np.float32)
    out[:, :, 0] = pad_id
    for i, row in enumerate(ids):
        out[i, : len(row), 0] = row
        out[i, : len(row), 1] = 1.0
    return out


def _parameter(manifest: Manifest, key: str, path: Path) -> str | int | float | bool:
    try:
        return manifest.parameters[key]
    except KeyError:
        raise ModelRefused(
            path, f"the manifest's parameters have no {key!r}: it is not a text-embedding export; re-export it"
        ) from None


class MiniLmEncoder:
    """A checked MiniLM ONNX file and its tokenizer. One thread at a time (like ``LoadedModel``)."""

    def __init__(self, model: LoadedModel, tokens: WordPieceTokens) -> None:
        self.model = model
        self.tokens = tokens
        dim = model.manifest.outputs[0].shape[-1]
        if dim is None:
            raise ModelRefused(model.path, "the manifest's output has no fixed embedding size")
        self._dim = int(dim)
        self._name = f"minilm-l6-{model.file.precision}-{model.file.sha256[:12]}"

    @classmethod
    def load(cls, model_dir: Path, file: str | None = None, *, threads: int = 1) -> MiniLmEncoder:
        """Load ``model_dir`` (``file``, or the int8 file, falling back to fp32) with every check; ``ModelRefused``
        names the one that failed."""
        model = load_model(model_dir, file, prefer=("onnxruntime",), threads=threads)
        manifest = model.manifest
        if manifest.task != TEXT_EMBEDDING_TASK:
            raise ModelRefused(
                model_dir, f"manifest task is {manifest.task!r}, a text encoder needs {TEXT_EMBEDDING_TASK!r}"
            )
        tokenizer_path = model_dir / str(_parameter(manifest, "tokenizer_file", model_dir))
        if not tokenizer_path.is_file():
            raise ModelRefused(tokenizer_path, "the manifest's tokenizer file is missing")
        want_sha = str(_parameter(manifest, "tokenizer_sha256", model_dir))
        actual = sha256_of(tokenizer_path)
        if actual != want_sha:
            raise ModelRefused(
                tokenizer_path, f"sha256 {actual} does not match the manifest's {want_sha}: restore the exported file"
            )
        max_length = int(_parameter(manifest, "max_length", model_dir))
        try:
            tokens = WordPieceTokens(tokenizer_path, max_length=max_length)
        except Exception as exc:  # tokenizers raises its own Exception type on a bad file, ValueError on no [PAD]
            raise ModelRefused(tokenizer_path, f"cannot load the tokenizer: {exc}") from exc
        reference_texts = json.loads(str(_parameter(manifest, "reference_texts", model_dir)))
        got = tokens.batch(reference_texts)
        want = np.asarray(manifest.reference_input, dtype=np.float32)
        if got.shape != want.shape or not np.array_equal(got, want):
            raise ModelRefused(
                tokenizer_path,
                f"the tokenizer turns the manifest's reference texts into other token rows (shape {got.shape}, "
                f"expected {want.shape}): it is not the tokenizer the model was exported with",
            )
        encoder = cls(model, tokens)
        _log.info("text encoder %s loaded from %s in %.3f s", encoder.name, model.path, model.load_time_s)
        return encoder

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_length(self) -> int:
        return self.tokens.max_length

    def encode(self, texts: Sequence[str]) -> Float32Array:
        rows = check_texts(texts)
        out = np.zeros((len(rows), self._dim), dtype=np.float32)
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            out[start : start + len(chunk)] = self.model.predict(self.tokens.batch(chunk))
        # A text with nothing in it has no meaning to compare: the zero vector, as the hashed encoder gives.
        blank = np.array([not text.strip() for text in rows], dtype=bool)
        out[blank] = 0.0
        return l2_normalise(out)
