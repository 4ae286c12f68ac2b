"""The fixed prompt the goldens are made from, and a float WAV writer (no 16-bit rounding)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

SAMPLE_RATE = 44100
PROMPT_SECONDS = 1.0
CHORD_HZ = (220.0, 277.18, 329.63, 440.0)  # A major, with the octave


def synthetic_prompt(top_hop: int, seconds: float = PROMPT_SECONDS) -> np.ndarray:
    """A deterministic chord with an attack/decay envelope and a mid-clip re-strike, float32,
    length rounded down to a whole number of top-level hops (so every level gets whole codes)."""
    n = int(SAMPLE_RATE * seconds) // top_hop * top_hop
    t = np.arange(n, dtype=np.float64) / SAMPLE_RATE
    chord = sum(np.sin(2 * np.pi * f * t) / (k + 1) for k, f in enumerate(CHORD_HZ))
    strike = np.where(t < seconds / 2, t, t - seconds / 2)  # time since the last strike
    envelope = np.minimum(strike / 0.01, 1.0) * np.exp(-2.5 * strike)
    audio = 0.4 * envelope * chord / np.max(np.abs(chord))
    return audio.astype(np.float32)


def write_float_wav(path: Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Mono 32-bit IEEE float WAV (format tag 3), samples written bit-exactly."""
    data = np.asarray(audio, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHHH", 3, 1, sample_rate, sample_rate * 4, 4, 32, 0)
    fact = struct.pack("<I", len(audio))
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<I", 4) + fact
            + b"data" + struct.pack("<I", len(data)) + data)
    Path(path).write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def read_float_wav(path: Path) -> tuple[np.ndarray, int]:
    """Reads what write_float_wav writes (for tests)."""
    raw = Path(path).read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE", f"{path}: not a WAV file"
    pos, sample_rate, audio = 12, None, None
    while pos < len(raw):
        chunk, size = raw[pos:pos + 4], struct.unpack("<I", raw[pos + 4:pos + 8])[0]
        if chunk == b"fmt ":
            tag, channels, sample_rate = struct.unpack("<HHI", raw[pos + 8:pos + 16])
            assert (tag, channels) == (3, 1), f"{path}: expected mono float WAV, got tag {tag}, {channels} ch"
        elif chunk == b"data":
            audio = np.frombuffer(raw[pos + 8:pos + 8 + size], dtype="<f4")
        pos += 8 + size + (size & 1)
    return audio, sample_rate
