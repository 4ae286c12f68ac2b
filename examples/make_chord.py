#!/usr/bin/env python3
"""Writes examples/chord.wav: 2 s of a C major chord (C4 E4 G4 plus C3), mono, 44.1 kHz, 16-bit,
with a short fade in and out. Deterministic: the committed file is exactly what this writes.

    python3 examples/make_chord.py
"""

import math
import struct
import wave
from pathlib import Path

RATE = 44_100
SECONDS = 2.0
FREQS_HZ = [130.81, 261.63, 329.63, 392.00]
FADE_S = 0.02

out = Path(__file__).with_name("chord.wav")
n = int(RATE * SECONDS)
frames = bytearray()
for i in range(n):
    t = i / RATE
    fade = min(1.0, t / FADE_S, (SECONDS - t) / FADE_S)
    # Each note decays a little, like a struck chord.
    x = sum(math.sin(2 * math.pi * f * t) * math.exp(-0.6 * t) for f in FREQS_HZ)
    sample = round(0.2 * fade * x * 32767)
    frames += struct.pack("<h", max(-32768, min(32767, sample)))
with wave.open(str(out), "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(RATE)
    w.writeframes(bytes(frames))
print(f"wrote {out} ({n} samples)")
