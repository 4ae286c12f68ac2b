#!/usr/bin/env bash
# The device side of the GPU check: the calls `cargo xtask gpu-check pack` prints, in order,
# each run by the device tool from the repository root with its own carried folder:
#
#   device.sh start PAYLOAD   first call: transformers wheels and the first part of ONNX
#                             Runtime's GPU build; starts the prepare phase in the background
#                             (bandwidth, reference timings, random-weight graphs)
#   device.sh stage PAYLOAD   middle calls: one more part each; shows how prepare is doing
#   device.sh run PAYLOAD     last call: the last part and the binaries; installs, runs the tiny
#                             tests on CUDA, times Encore, writes the report under $OUT
#                             (again after a cut-short run: steps already done are kept)
#
# `start` and `run` take extra driver options after PAYLOAD, the same for both: `--with-5b` adds
# 5b_lyrics' top prior (about 3-4 minutes more). Everything lands in /tmp/encore-gpu, which stays while the machine is warm (30 s after a
# call): make the calls back to back.
set -uo pipefail
WORK=/tmp/encore-gpu
verb=${1:?start, stage or run}
payload=${2:?the call\'s carried folder}
shift 2
# Extra driver options (e.g. --with-5b), given alike to `start` and `run`.
extra=("$@")
OUT=${OUT:-$WORK/out}

mkdir -p "$WORK/parts"
cp "$payload"/ort.tar.xz.part* "$WORK/parts/" 2>/dev/null
echo "parts on the machine: $(ls "$WORK/parts" | tr '\n' ' ')"

prepare_status() {
    python3 - "$WORK" <<'EOF'
import json, sys
from pathlib import Path
path = Path(sys.argv[1]) / "prepare.json"
data = json.loads(path.read_text()) if path.exists() else {}
for s in data.get("steps", []):
    print(f"  prepare {s['name']}: {s['status']} {s['seconds']} s {s.get('reason', '')[:300]}")
print("  prepare done" if data.get("done") else "  prepare still running")
EOF
}

case "$verb" in
start)
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader
    python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$WORK/site" "$payload"/*.whl || exit 1
    # The background phase reads its own copy of the code: later calls may re-send the tree.
    rm -rf "$WORK/code" && mkdir -p "$WORK/code/models" && cp -r tools "$WORK/code/" && cp -r models/export "$WORK/code/models/"
    setsid nohup python3 "$WORK/code/tools/gpu_check/gpu_check.py" prepare --mode cuda --work "$WORK" "${extra[@]}" \
        >"$WORK/prepare.log" 2>&1 </dev/null &
    # Long enough to see it start well (imports, the bandwidth step), short on device time.
    for _ in $(seq 30); do
        grep -q "bandwidth:" "$WORK/prepare.log" 2>/dev/null && break
        sleep 1
    done
    tail -n 20 "$WORK/prepare.log"
    prepare_status
    ;;
stage)
    prepare_status
    tail -n 5 "$WORK/prepare.log"
    ;;
run)
    python3 tools/gpu_check/gpu_check.py run --mode cuda --work "$WORK" --payload "$payload" --out "$OUT" --resume "${extra[@]}"
    status=$?
    mkdir -p "$OUT" && cp "$WORK/prepare.log" "$OUT/prepare.log" 2>/dev/null
    exit $status
    ;;
*)
    echo "unknown verb $verb: start, stage or run" >&2
    exit 2
    ;;
esac
