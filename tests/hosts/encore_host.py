"""Shared helpers for the real-host tests: where the bundle is, test signals, and reading and
writing Encore's state as JUCE-based hosts (pedalboard, DawDreamer) hand it over.

A JUCE host's VST3 state is `VC2!` + a little-endian u32 length + an XML document
(`<VST3PluginState><IComponent>…</IComponent>…`). The IComponent element holds the plugin's own
state in JUCE's "size.chars" base-64 variant; for Encore that is nice-plug's JSON:
`{"version", "params": {id: {type: value}}, "fields": {"settings": "<json>",
"diagnostics": "<json>", "session": "<json>"}}` (`session`: the takes, the chosen take and the
unfinished generations).
"""

from __future__ import annotations

import json
import re
import struct
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
VST3_BUNDLE = REPO / "target" / "bundled" / "Encore.vst3"

# JUCE's MemoryBlock::toBase64Encoding alphabet: 6 bits per character, least significant first.
_JUCE_BASE64 = ".ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+"
_JUCE_XML_MAGIC = b"VC2!"


def require_bundle() -> str:
    """The VST3 bundle folder; fails (never skips) when it was not built."""
    assert VST3_BUNDLE.is_dir(), f"{VST3_BUNDLE} does not exist: run `cargo xtask bundle` first"
    return str(VST3_BUNDLE)


def make_signal(channels: int, frames: int, seed: int = 0) -> np.ndarray:
    """Noise with values that catch any arithmetic on a pass-through path: -0.0, subnormals,
    large magnitudes and full-scale samples."""
    rng = np.random.default_rng(seed)
    audio = rng.uniform(-1.0, 1.0, size=(channels, frames)).astype(np.float32)
    audio[:, 0::11] = np.float32(-0.0)
    audio[:, 3::13] = np.float32(1e-40)  # subnormal
    audio[:, 5::17] = np.float32(-3.0e4)
    audio[:, 7::19] = np.float32(1.0)
    return audio


def assert_bit_exact(expected: np.ndarray, actual: np.ndarray) -> None:
    assert actual.dtype == np.float32, actual.dtype
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    differs = expected.view(np.uint32) != actual.view(np.uint32)
    if differs.any():
        channel, frame = (int(i[0]) for i in np.nonzero(differs))
        raise AssertionError(
            f"{int(differs.sum())} samples differ; first at channel {channel}, frame {frame}: "
            f"{expected[channel, frame]!r} in, {actual[channel, frame]!r} out"
        )


def _juce_base64_decode(text: str) -> bytes:
    size, _, chars = text.partition(".")
    value = 0
    for i, char in enumerate(chars):
        value |= _JUCE_BASE64.index(char) << (6 * i)
    return value.to_bytes(len(chars) * 6 // 8 + 1, "little")[: int(size)]


def _juce_base64_encode(data: bytes) -> str:
    value = int.from_bytes(data, "little")
    chars = (len(data) * 8 + 5) // 6
    return f"{len(data)}." + "".join(_JUCE_BASE64[(value >> (6 * i)) & 63] for i in range(chars))


def _split_juce_state(raw: bytes) -> tuple[str, re.Match]:
    assert raw[:4] == _JUCE_XML_MAGIC, f"not a JUCE XML state: {raw[:16]!r}"
    (length,) = struct.unpack_from("<I", raw, 4)
    xml = raw[8 : 8 + length].rstrip(b"\0").decode("utf-8")
    match = re.search(r"<IComponent>([^<]*)</IComponent>", xml)
    assert match, f"no IComponent state in {xml[:200]!r}"
    return xml, match


def read_state(raw: bytes) -> dict:
    """nice-plug's state JSON, with the `fields` values (JSON strings) parsed too."""
    _, match = _split_juce_state(raw)
    state = json.loads(_juce_base64_decode(match.group(1)))
    state["fields"] = {key: json.loads(value) for key, value in state["fields"].items()}
    return state


def write_state(raw: bytes, state: dict) -> bytes:
    """`raw` with its plugin state replaced by `state` (as returned by `read_state`)."""
    xml, match = _split_juce_state(raw)
    plugin_state = dict(state)
    plugin_state["fields"] = {key: json.dumps(value) for key, value in state["fields"].items()}
    component = _juce_base64_encode(json.dumps(plugin_state).encode("utf-8"))
    xml = xml[: match.start(1)] + component + xml[match.end(1) :]
    body = xml.encode("utf-8") + b"\0"
    return _JUCE_XML_MAGIC + struct.pack("<I", len(body)) + body


def wait_for(read, done, timeout_s: float = 5.0, what: str = "condition"):
    """Polls `read()` until `done(value)`; the worker thread works asynchronously."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}: {value!r}")
        time.sleep(0.02)


def runtime_report() -> dict:
    """Loads the VST3 in pedalboard in this process and reports what a test in another process
    (with another environment) needs: pass-through, and the runtime status once the worker
    has looked for ONNX Runtime."""
    import pedalboard

    plugin = pedalboard.load_plugin(require_bundle())
    audio = make_signal(2, 4096, seed=7)
    out = plugin.process(audio, 48_000, buffer_size=512)
    bit_exact = bool(np.array_equal(audio.view(np.uint32), out.view(np.uint32)))

    # The worker looks for ONNX Runtime after activation; wait until it has an answer.
    def settled(diagnostics: dict) -> bool:
        if "runtime" not in diagnostics:
            return True  # nothing to wait for; the test reports the missing field
        return str(diagnostics["runtime"]).startswith(("ready", "unavailable"))

    def diagnostics_now() -> dict:
        return read_state(plugin.raw_state)["fields"]["diagnostics"]

    try:
        diagnostics = wait_for(diagnostics_now, settled, timeout_s=10.0, what="a runtime status")
    except AssertionError:
        diagnostics = diagnostics_now()  # the test's assertions show what is there instead
    return {"bit_exact": bit_exact, "shape": list(out.shape), "diagnostics": diagnostics}


if __name__ == "__main__":
    print(json.dumps(runtime_report()))
