"""Coverage-guided fuzzing of the DTN bundle decoder with atheris (libFuzzer); optional, not part of pytest.

The hypothesis properties in tests/dtn_store/test_dtn_bundle_fuzz.py run in CI; this runs for as long as you
like and follows coverage into the msgpack and field-check paths. Needs the ``fuzz`` extra
(``pip install -e '.[fuzz]'``). libFuzzer flags pass through, e.g.::

    python -m benchmarks.dtn_fuzz_decode -atheris_runs=500000
    python -m benchmarks.dtn_fuzz_decode -max_total_time=300 corpus_dir/

The first input byte picks how the rest reaches ``decode``: as is (mostly stopped by the checksum), with a
matching crc32 appended (so the msgpack parser and the field checks see it), or as byte edits of a valid frame
re-sealed with its crc (structure-aware). ``decode`` may return a Bundle or raise BundleError; anything else
is a crash that libFuzzer reports with the input that caused it.
"""

from __future__ import annotations

import struct
import sys
import zlib

import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

with atheris.instrument_imports():
    from edge.dtn.bundle import BundleError, Priority, decode, encode, make_bundle

_SEED = encode(
    make_bundle(
        source="gw-07",
        created_ms=1_767_225_600_000,
        seq=4242,
        destination="surface",
        priority=Priority.ALARM,
        lifetime_s=3600,
        kind="alarm",
        body={"point": "ch4_dev1", "value": 2.1, "unit": "%"},
    )
)


def _seal(body: bytes) -> bytes:
    return body + struct.pack(">I", zlib.crc32(body))


def test_one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    mode = provider.ConsumeIntInRange(0, 2)
    if mode == 0:
        frame = provider.ConsumeBytes(provider.remaining_bytes())
    elif mode == 1:
        frame = _seal(provider.ConsumeBytes(provider.remaining_bytes()))
    else:
        body = bytearray(_SEED[:-4])
        for _ in range(provider.ConsumeIntInRange(1, 8)):
            position = provider.ConsumeIntInRange(0, len(body) - 1)
            body[position] = provider.ConsumeIntInRange(0, 255)
        if provider.ConsumeBool():
            body = body[: provider.ConsumeIntInRange(0, len(body))]
        frame = _seal(bytes(body))
    try:
        bundle = decode(frame)
    except BundleError:
        return
    if encode(bundle) != frame:
        # A frame may decode to the same bundle through a non-canonical msgpack form; it must at least
        # re-encode to something that decodes to the same bundle.
        assert decode(encode(bundle)) == bundle


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
