"""ONNX Runtime found or not: the plugin must load and pass audio either way, and say in its
diagnostics (`runtime`) what happened. ONNX Runtime is loaded once per process, so each case
runs in a fresh Python process with its own environment."""

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MISSING = "/nonexistent/libonnxruntime.so"


def report(**env_overrides) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("ENCORE_ORT_DYLIB", "ORT_DYLIB_PATH")}
    env.update(env_overrides)
    env["PYTHONPATH"] = str(HERE)
    done = subprocess.run(
        [sys.executable, str(HERE / "encore_host.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"host process failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_missing_runtime_still_loads_passes_audio_and_says_why():
    result = report(ENCORE_ORT_DYLIB=MISSING)
    assert result["bit_exact"], result
    assert result["shape"] == [2, 4096]
    runtime = str(result["diagnostics"].get("runtime"))
    assert runtime.startswith("unavailable: "), runtime
    # It names the path it was told to use and where that came from; no silent fallback to
    # the library inside the bundle.
    assert MISSING in runtime, runtime
    assert "ENCORE_ORT_DYLIB" in runtime, runtime
    assert "Encore.vst3" not in runtime, runtime


def test_bundled_runtime_is_found_beside_the_plugin():
    result = report()
    assert result["bit_exact"], result
    runtime = str(result["diagnostics"].get("runtime"))
    assert runtime.startswith("ready: "), runtime
    # Found inside the bundle, not in the source checkout's runtime/ folder.
    assert "Encore.vst3/Contents/x86_64-linux/libonnxruntime.so" in runtime, runtime
    assert "next to the Encore binary" in runtime, runtime
