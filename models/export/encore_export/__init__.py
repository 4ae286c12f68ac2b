"""Encore's Jukebox exporter: Hugging Face Jukebox (transformers 4.40) -> ONNX graphs + manifest.json.

Entry points:
  python -m encore_export (--from SNAPSHOT | --config CONFIG.json) --out DIR --precision fp32|fp16|both
  python -m encore_export.fixtures      # rebuilds models/tiny-*/ and their goldens
  python -m encore_export.step_bench --model DIR   # CPU step timing and memory of one prior
"""

from .errors import ExportError, SnapshotError

__all__ = ["ExportError", "SnapshotError"]
