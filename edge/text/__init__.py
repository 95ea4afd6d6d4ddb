"""On-gateway text encoders for operation and maintenance log entries (issues 5 and 6).

``Encoder`` is the interface (texts -> float32 ``(n, dim)`` unit rows, ``name``, ``dim``); ``HashedNgramEncoder``
needs nothing but numpy; ``MiniLmEncoder`` (``edge.text.minilm``, imported on demand because it needs the
``tokenizers`` package) runs a checked MiniLM ONNX export on onnxruntime. ``open_encoder`` builds either from a
spec string, and ``text_tokens`` turns the hazard contract's text window into the model's fixed-size input.
"""

from edge.text.encoder import Encoder, Float32Array, l2_normalise
from edge.text.hashed import HashedNgramEncoder
from edge.text.window import TextTokens, open_encoder, text_tokens

__all__ = ["Encoder", "Float32Array", "HashedNgramEncoder", "TextTokens", "l2_normalise", "open_encoder", "text_tokens"]
