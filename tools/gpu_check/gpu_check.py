#!/usr/bin/env python3
"""The GPU check (issues 10 and 11): Encore's prior steps on CUDA against the floor and the
PyTorch reference, in one prepared sequence that fits one device lease.

  gpu_check.py all     --mode cpu|cuda --work DIR --bin DIR --out DIR [options]
  gpu_check.py prepare --mode cuda --work DIR [options]     (device call 1, in the background)
  gpu_check.py run     --mode cuda --work DIR --bin DIR --payload DIR --out DIR [options]

`prepare` needs no ONNX Runtime: it measures the device copy bandwidth, makes the random-weight
graphs (the exporter, `--config`) and times the reference (the transformers port, same seeded
weights). `run` installs ONNX Runtime's CUDA provider from the travelled parts, runs the tiny
models' parity and replay tests on the device, waits for `prepare`, then times Encore's
`Prior::step` (examples/step_bench.rs) with and without CUDA graphs and writes the report.
`all` is both, one after the other: what `cargo xtask gpu-check --cpu` runs here, so that every
line has run before a device is lent; on the CPU the CUDA-only parts are skipped with a reason.

Every step has a time budget and the report (gpu-check.json, gpu-check.md under --out) is
written after each, so a run cut short still leaves what it measured. Stdlib only at the top:
torch and onnx are imported by the steps that need them.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "models/export/encore_export/configs"
SCHEMA = "encore-gpu-check/1"
ORT_LIBRARY = "libonnxruntime.so.1.31.1"
TEST_BINARIES = ["prior_parity", "sampling_replay", "vqvae_parity", "device"]
# The fixtures' seeds (encore_export/fixtures.py): with others a tiny VQ-VAE's random codebook
# can hold near-tied codes, which the exporter refuses.
SEEDS = {"tiny_1b_lyrics": 1236, "tiny_5b_lyrics": 1235}
FP16_BOUND = "1e-3 of the largest |logit| (tests/prior_parity.rs FP16_TOLERANCE)"
# The cost model's constants (docs/performance.md): calibrated on the H200 run of 2026-11-29.
KERNEL_US = 1.6
KERNELS_PER_NODE = 1.5
READ_GBPS = 3300
# Nodes that only relabel a buffer or work on shapes on the host: no kernel (as the exporter's
# step-size tests count them).
NO_KERNEL = {"Reshape", "Squeeze", "Unsqueeze", "Shape", "Constant", "Identity", "Flatten"}
# The top prior again in other graphs (docs/performance.md, "Cost model"): (precision, exporter
# flags). The base is the exporter's default (on CUDA the fused fp16 step); "classic" is the
# traced step graph every export had before it; "fp32" gives every variant's first logits a
# full-precision reference on the same weights. Most telling first.
VARIANTS = {
    "int8": ("int8", []),
    "classic": ("fp16", ["--classic-step"]),
    "int4": ("int4", []),
    "fp32": ("fp32", []),
}


# ----------------------------------------------------------------------------- models and plan

def models_for(args) -> list[dict]:
    """What to measure: the 1b_lyrics top prior and its level-0 upsampler, and with --with-5b
    5b_lyrics' top prior, last and only while its budget lasts; the tiny configs on
    `--scale tiny`; one given folder with --model."""
    if args.model:
        # Every precision the folder holds for that prior, side by side: the first (fp32 where
        # present) is the base the others' speed and first logits are compared with.
        manifest = json.loads((Path(args.model) / "manifest.json").read_text())
        held = {g["precision"] for g in manifest["graphs"] if g["kind"] == "prior_step" and g["level"] == args.level}
        order = [p for p in ("fp32", "fp16", "int8", "int4") if p in held]
        base = f"{manifest['model']['name']}_l{args.level}"
        return [{"key": base if i == 0 else f"{base}_{prec}", "dir": str(Path(args.model).resolve()),
                 "level": args.level, "config": None, "optional": False, "precision": prec,
                 "variant": None if i == 0 else prec} for i, prec in enumerate(order)]
    prefix = "tiny_" if args.scale == "tiny" else ""
    # The top prior again as exported by each experiment (VARIANTS), if time allows: what fewer
    # kernels per layer buy, the most promising first.
    plan = [(f"{prefix}1b_lyrics", 2, False, None), (f"{prefix}1b_lyrics", 0, False, None),
            *[(f"{prefix}1b_lyrics", 2, True, variant) for variant in args.variants],
            (f"{prefix}5b_lyrics", 2, True, None)]
    # One folder per config and variant, exported one after the other while the device measures
    # the ones done; the same config and seed give every folder the same random weights.
    def folder(name, variant):
        return str(Path(args.work) / "models" / (f"{name}_{variant}" if variant else name))
    return [{"key": f"{name}_l{level}" + (f"_{variant}" if variant else ""), "config": str(CONFIGS / f"{name}.json"),
             "level": level, "optional": optional, "seed": SEEDS.get(name, 0), "variant": variant,
             "dir": folder(name, variant)}
            for name, level, optional, variant in plan if args.with_5b or not name.endswith("5b_lyrics")]


def precision(args) -> str:
    return "fp16" if args.mode == "cuda" else "fp32"


def model_precision(args, model: dict) -> str:
    """The graphs' precision of one measured prior: a given folder's, a variant's own (on the
    CPU too, so that its path has run before a device is lent), else the device's."""
    if model.get("precision"):
        return model["precision"]
    if model.get("variant"):
        return VARIANTS[model["variant"]][0]
    return precision(args)


# ----------------------------------------------------------------------------- results

class Results:
    """One JSON file per phase under --work, rewritten after every step."""

    def __init__(self, path: Path, phase: str, resume: bool):
        self.path = path
        self.data = {"phase": phase, "steps": [], "models": {}, "done": False}
        if resume and path.exists():  # a rerun continues: steps already done are not redone
            self.data = json.loads(path.read_text())
            self.data["done"] = False
        self.save()

    def save(self):
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        tmp.replace(self.path)

    def step(self, name: str):
        return next((s for s in self.data["steps"] if s["name"] == name), None)

    def record(self, name: str, status: str, seconds: float, **detail):
        entry = {"name": name, "status": status, "seconds": round(seconds, 1), **detail}
        self.data["steps"] = [s for s in self.data["steps"] if s["name"] != name] + [entry]
        self.save()
        reason = f" ({detail['reason']})" if "reason" in detail else ""
        print(f"[gpu-check] {name}: {status} in {seconds:.1f} s{reason}", flush=True)

    def model(self, key: str) -> dict:
        return self.data["models"].setdefault(key, {})


class Clock:
    def __init__(self, budget_s: float):
        self.start = time.monotonic()
        self.deadline = self.start + budget_s

    def left(self) -> float:
        return self.deadline - time.monotonic()


def run_step(results: Results, clock: Clock, name: str, budget_s: float, fn, *, needs_s: float = 5.0, redo=False):
    """Runs fn(timeout_s) unless already done; records ok / failed / timeout / skipped."""
    done = results.step(name)
    if done and done["status"] in ("ok", "skipped") and not redo:
        print(f"[gpu-check] {name}: already {done['status']}", flush=True)
        return done["status"] == "ok"
    timeout = min(budget_s, clock.left())
    if timeout < needs_s:
        results.record(name, "skipped", 0.0, reason=f"out of time ({clock.left():.0f} s left, needs {needs_s:.0f} s)")
        return False
    began = time.monotonic()
    try:
        detail = fn(timeout) or {}
    except Skip as skip:
        results.record(name, "skipped", time.monotonic() - began, reason=str(skip))
        return False
    except subprocess.TimeoutExpired:
        results.record(name, "timeout", time.monotonic() - began, reason=f"over its {timeout:.0f} s budget")
        return False
    except Exception as err:  # a failed step is a result; the next steps still run
        results.record(name, "failed", time.monotonic() - began, reason=f"{type(err).__name__}: {err}"[:2000])
        return False
    results.record(name, "ok", time.monotonic() - began, **detail)
    return True


class Skip(Exception):
    """A step that does not apply here (e.g. CUDA-only on the CPU); the reason is printed."""


def sh(cmd, timeout, env=None, log=None) -> str:
    """Runs cmd, streams its output into the log, returns stdout; raises on failure."""
    shown = (str(c) if len(str(c)) < 120 else str(c)[:60].replace("\n", " ") + " ..." for c in cmd)
    print("[gpu-check] $ " + " ".join(shown), flush=True)
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, **(env or {})})
    if log is not None:
        with open(log, "a") as f:
            f.write(f"$ {' '.join(str(c) for c in cmd)}\n{out.stdout}\n{out.stderr}\n")
    if out.returncode != 0:
        tail = (out.stderr or out.stdout).strip().splitlines()[-4:]
        raise RuntimeError(f"exit {out.returncode}: " + " | ".join(tail))
    return out.stdout


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# ----------------------------------------------------------------------------- prepare steps

def python_env(args) -> dict:
    """For the exporter and the reference: our wheels (transformers 4.40.2) first, then the
    exporter's package; tqdm bars off (the port draws one per call)."""
    paths = [str(Path(args.work) / "site"), str(REPO / "models/export")]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return {"PYTHONPATH": os.pathsep.join(paths), "TQDM_DISABLE": "1", "PYTHONUNBUFFERED": "1"}


def step_environment(args, results: Results):
    def fn(_timeout):
        info = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "host_cpus": os.cpu_count(), "python": sys.version.split()[0], "mode": args.mode}
        code = ("import json, torch; d = torch.cuda.is_available(); print(json.dumps({'torch': torch.__version__, "
                "'cuda': torch.version.cuda, 'gpu': torch.cuda.get_device_name(0) if d else None, "
                "'gpu_memory_gib': round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1) if d else None}))")
        try:
            info.update(json.loads(sh([sys.executable, "-c", code], 60, env=python_env(args)).strip().splitlines()[-1]))
        except Exception as err:
            info["torch_error"] = str(err)[:300]
        if shutil.which("nvidia-smi"):
            try:
                info["nvidia_smi"] = sh(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                                         "--format=csv,noheader"], 30).strip()
            except Exception as err:
                info["nvidia_smi"] = f"failed: {err}"[:300]
        results.data["environment"] = info
        return {}
    run_step(results, Clock(120), "environment", 60, fn)


def step_bandwidth(args, results: Results, clock: Clock):
    """Bytes read + written per second of a large device-to-device copy (torch), the figure the
    floor divides the weights by. On the CPU: the same copy in host memory, with --threads."""
    def fn(timeout):
        code = f"""
import json, time, torch
cuda = {args.mode == 'cuda'!r}
if not cuda and {args.threads or 0}:
    torch.set_num_threads({args.threads or 0})
n = 2**31 if cuda else 2**28
x = torch.empty(n, dtype=torch.uint8, device='cuda' if cuda else 'cpu').fill_(1)
y = torch.empty_like(x)
sync = torch.cuda.synchronize if cuda else (lambda: None)
for _ in range(3):
    y.copy_(x)
sync()
times = []
for _ in range(20 if cuda else 5):
    t = time.perf_counter(); y.copy_(x); sync(); times.append(time.perf_counter() - t)
best, median = min(times), sorted(times)[len(times) // 2]
print(json.dumps({{'bytes_copied': n, 'gbps_read_plus_written_median': round(2 * n / median / 1e9, 1),
                  'gbps_read_plus_written_best': round(2 * n / best / 1e9, 1)}}))
"""
        out = json_lines(sh([sys.executable, "-c", code], timeout, env=python_env(args)))[-1]
        results.data["bandwidth"] = {**out, "method": "torch copy_ of one buffer into another, "
                                     + ("on the GPU" if args.mode == "cuda" else f"in host memory, {args.threads or 'all'} threads")
                                     + "; bytes read + written / median time"}
        return out
    run_step(results, clock, "bandwidth", 60, fn)


def step_export(args, results: Results, clock: Clock, models: list[dict]):
    """The random-weight graphs of `models` (one config: same folder), without the ONNX Runtime
    check (files byte-identical to a checked export, docs/exporter.md)."""
    first = models[0]
    if first["config"] is None:  # a given folder: only read what it holds
        for model in models:
            prec = model_precision(args, model)
            results.model(model["key"]).update({"dir": model["dir"], "level": model["level"], "precision": prec,
                                                **step_weights(Path(model["dir"]), model["level"], prec)})
        return
    precisions = {model_precision(args, m) for m in models}
    prec = precisions.pop() if len(precisions) == 1 else "all"
    def fn(timeout):
        out = Path(first["dir"])
        if out.exists():
            shutil.rmtree(out)
        levels = sorted({m["level"] for m in models}, reverse=True)
        cmd = [sys.executable, "-m", "encore_export", "--config", first["config"], "--out", out,
               "--precision", prec, "--priors", *map(str, levels), "--no-verify",
               "--random-seed", str(first["seed"])]
        if prec == "fp16" and "5b" in first["key"]:
            cmd += ["--weights-dtype", "fp16"]  # built in fp16: a 5b prior never needs its fp32 copy
        cmd += VARIANTS[first["variant"]][1] if first.get("variant") else []
        sh(cmd, timeout, env=python_env(args), log=Path(args.work) / "export.log")
        detail = {}
        for model in models:
            weights = step_weights(out, model["level"], model_precision(args, model))
            results.model(model["key"]).update({"dir": str(out), "level": model["level"],
                                                "precision": model_precision(args, model),
                                                "config": Path(model["config"]).name, "seed": model["seed"], **weights})
            detail[model["key"]] = weights
        return detail
    budget = args.export_budget_s * (2.5 if "5b" in first["key"] else len(models))
    run_step(results, clock, f"export:{Path(first['dir']).name}", budget, fn,
             needs_s=budget * 0.8 if first["optional"] else 5)


def step_weights(folder: Path, level: int, prec: str) -> dict:
    """Bytes of the initializers the step graph reads (its share of the shared weights file),
    and the prior's shape from the manifest."""
    import onnx

    manifest = json.loads((folder / "manifest.json").read_text())
    graph = next(g for g in manifest["graphs"] if g["kind"] == "prior_step" and g["level"] == level
                 and g["precision"] == prec)
    proto = onnx.load(str(folder / graph["file"]), load_external_data=False)
    total = 0
    for init in proto.graph.initializer:
        external = {e.key: e.value for e in init.external_data}
        total += int(external["length"]) if "length" in external else len(init.raw_data)
    spec = next(p for p in manifest["priors"] if p["level"] == level)
    kernel_nodes = sum(1 for node in proto.graph.node if node.op_type not in NO_KERNEL)
    return {"step_weights_bytes": total, "step_kernel_nodes": kernel_nodes, "n_ctx": spec["n_ctx"],
            "layers": spec["depth"], "width": spec["width"]}


def predicted_ms(kernel_nodes: int | None, weights_bytes: int | None) -> list[float] | None:
    """The cost model of docs/performance.md ("Kernels per layer and a cost model for the GPU"),
    calibrated on the one H200 run: a step replayed from a CUDA graph costs its kernels at
    KERNEL_US each plus its weights read at READ_GBPS; a node launches one kernel (the fused
    ops) to KERNELS_PER_NODE (the traced graph's profile). The range is what this run checks."""
    if not kernel_nodes or not weights_bytes:
        return None
    read_ms = weights_bytes / (READ_GBPS * 1e9) * 1e3
    return [round(kernel_nodes * k * KERNEL_US / 1e3 + read_ms, 2) for k in (1.0, KERNELS_PER_NODE)]


def prime_for(args, n_ctx: int) -> int:
    """The prime both sides use: --prime, or less where the window is shorter (tiny models)."""
    return max(1, min(args.prime, n_ctx - args.warmup - args.steps - 2))


def step_reference(args, results: Results, clock: Clock, model: dict):
    """The port's own cached sampling step on the same seeded weights (reference_bench.py)."""
    key = model["key"]
    def fn(timeout):
        source = ["--config", model["config"], "--seed", str(model["seed"])] if model["config"] else ["--model", model["dir"]]
        cmd = [sys.executable, "-m", "encore_export.reference_bench", *source, "--level", str(model["level"]),
               "--device", args.mode, "--dtype", precision(args), "--batch", *map(str, args.batch),
               "--prime", str(args.prime), "--fit-prime", "--steps", str(args.steps), "--warmup", str(args.warmup)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        lines = json_lines(sh(cmd, timeout, env=python_env(args), log=Path(args.work) / "reference.log"))
        results.model(key)["reference"] = {"opened": lines[0], "batches": {str(l["batch"]): l for l in lines[1:]}}
        return {"batches": sorted(str(l["batch"]) for l in lines[1:])}
    budget = args.reference_budget_s * (2 if "5b" in key else 1)
    run_step(results, clock, f"reference:{key}", budget, fn, needs_s=budget * 0.6 if model["optional"] else 5)


def prepare(args) -> Results:
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "prepare.pid").write_text(str(os.getpid()))
    results = Results(work / "prepare.json", "prepare", args.resume)
    clock = Clock(args.prepare_budget_s)
    step_environment(args, results)
    step_bandwidth(args, results, clock)
    models = models_for(args)
    # The reference timings first, alone on the device (the run phase waits for them before
    # any GPU work); then the exports, which only need CPUs.
    for model in models:
        if not model.get("variant"):  # a variant is compared with its base prior's reference
            step_reference(args, results, clock, model)
    results.data["references_done"] = True
    results.save()
    by_config: dict[str, list[dict]] = {}
    for model in models:
        by_config.setdefault(model["dir"], []).append(model)
    for group in by_config.values():
        step_export(args, results, clock, group)
    results.data["done"] = True
    results.save()
    return results


# ----------------------------------------------------------------------------- run steps

def runtime_env(args) -> dict:
    """Where the Rust binaries find ONNX Runtime (and, on CUDA, the CUDA libraries)."""
    work = Path(args.work)
    if args.mode == "cpu":
        lib = Path(args.ort) if args.ort else REPO / "runtime/onnxruntime-cpu" / ORT_LIBRARY
        return {"ENCORE_ORT_DYLIB": str(lib), "RUST_BACKTRACE": "0"}
    cuda = work / "runtime/cuda"
    paths = [str(work / "runtime/onnxruntime-gpu"), str(cuda)]
    paths += [p for p in ("/usr/local/nvidia/lib64", "/usr/local/nvidia/lib") if os.path.isdir(p)]
    if os.environ.get("LD_LIBRARY_PATH"):
        paths.append(os.environ["LD_LIBRARY_PATH"])
    return {"ENCORE_ORT_DYLIB": str(work / "runtime/onnxruntime-gpu" / ORT_LIBRARY),
            "LD_LIBRARY_PATH": os.pathsep.join(paths), "RUST_BACKTRACE": "0"}


def step_install(args, results: Results, clock: Clock):
    """Joins the travelled parts of ONNX Runtime's GPU build, checks them against pack.json,
    unpacks them into WORK/runtime/onnxruntime-gpu, and links the CUDA 13 libraries that
    torch's wheels brought into WORK/runtime/cuda (where the engine looks, beside it)."""
    def fn(timeout):
        if args.mode != "cuda":
            raise Skip("CUDA only: on the CPU the ONNX Runtime of `cargo xtask setup` is used")
        work, payload = Path(args.work), Path(args.payload)
        pack = json.loads((payload / "pack.json").read_text())
        parts_dir = work / "parts"
        parts_dir.mkdir(parents=True, exist_ok=True)
        for part in payload.glob("ort.tar.xz.part*"):
            shutil.copy(part, parts_dir / part.name)
        joined = work / "ort.tar.xz"
        digest = hashlib.sha256()
        with open(joined, "wb") as out:
            for part in pack["ort_parts"]:
                data = (parts_dir / part["name"]).read_bytes()
                if hashlib.sha256(data).hexdigest() != part["sha256"]:
                    raise RuntimeError(f"{part['name']}: sha256 differs from pack.json (a call was skipped or cut)")
                digest.update(data)
                out.write(data)
        if digest.hexdigest() != pack["ort_sha256"]:
            raise RuntimeError("the joined ONNX Runtime archive's sha256 differs from pack.json")
        target = work / "runtime/onnxruntime-gpu"
        target.mkdir(parents=True, exist_ok=True)
        untar(joined, target)
        untar(payload / "bin.tar.xz", work / "bin")
        cuda = work / "runtime/cuda"
        cuda.mkdir(parents=True, exist_ok=True)
        found = link_cuda_libraries(cuda)
        return {"ort": sorted(p.name for p in target.iterdir()), "cuda_libraries": found}
    run_step(results, clock, "install", 120, fn)


def untar(archive: Path, into: Path):
    with tarfile.open(archive, "r:xz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter="data")
        else:
            tar.extractall(into)


def link_cuda_libraries(into: Path) -> int:
    """Symlinks every shared library of the `nvidia` pip packages (torch's CUDA 13 runtime,
    cuBLAS, cuDNN, cuFFT, cuRAND, NVRTC) into one folder."""
    import importlib.util

    spec = importlib.util.find_spec("nvidia")
    roots = list(spec.submodule_search_locations) if spec and spec.submodule_search_locations else []
    count = 0
    for root in roots:
        for lib in glob.glob(os.path.join(root, "**", "lib", "*.so*"), recursive=True):
            link = into / os.path.basename(lib)
            if not link.exists():
                link.symlink_to(lib)
                count += 1
    if count == 0:
        raise RuntimeError(f"no CUDA libraries under the nvidia packages ({roots})")
    return count


def step_tiny_tests(args, results: Results, clock: Clock):
    """The tiny models' parity and replay tests, prebuilt, on the chosen device: fp32 logits
    against the port's goldens, fp32 sampled codes identical to the port's (and so to the CPU's),
    fp16 logits within FP16_BOUND."""
    for name in TEST_BINARIES:
        def fn(timeout, name=name):
            binary = Path(args.bin) / name
            env = {**runtime_env(args), "ENCORE_TEST_DEVICE": args.mode, "ENCORE_TEST_REPO_DIR": str(REPO)}
            # One test at a time: ONNX Runtime captures CUDA graphs in the global capture mode,
            # where another thread's synchronising CUDA call during a capture breaks it (the
            # first device run had the parallel tests fail exactly so). The engine itself runs
            # every graph from one thread (the queue's).
            out = subprocess.run([str(binary), "--nocapture", "--test-threads=1", *args.test_filter],
                                 capture_output=True, text=True,
                                 timeout=timeout, env={**os.environ, **env})
            text = out.stdout + out.stderr
            with open(Path(args.work) / "tests.log", "a") as f:
                f.write(f"$ {binary}\n{text}\n")
            keep = [l for l in text.splitlines() if "error" in l.lower() or "test result" in l or "panicked" in l
                    or "CUDA" in l][:40]
            if out.returncode != 0:
                raise RuntimeError(f"exit {out.returncode}: " + " | ".join(keep[-8:]))
            return {"lines": keep, "fp16_bound": FP16_BOUND} if name == "prior_parity" else {"lines": keep}
        run_step(results, clock, f"tests:{name}", args.test_budget_s, fn)


def step_cli(args, results: Results, clock: Clock):
    """One whole continuation through the CLI on the chosen device: the VQ-VAE's encoder and
    decoders and every prior of the tiny 1b_lyrics model, two takes down to level 0, the device
    asked for explicitly (`--device cuda` fails rather than fall back)."""
    def fn(timeout):
        out_dir = Path(args.work) / "cli-takes"
        shutil.rmtree(out_dir, ignore_errors=True)
        cmd = [Path(args.bin) / "encore", "--device", args.mode, "continue", REPO / "examples/chord.wav",
               "--model", REPO / "models/tiny-1b-lyrics", "--seconds", "2", "--takes", "2", "--level", "0",
               "--out-dir", out_dir]
        began = time.monotonic()
        log = Path(args.work) / "cli.log"
        sh(cmd, timeout, env=runtime_env(args), log=log)
        text = log.read_text(errors="replace")[-20_000:]  # the device line goes to stderr
        wavs = sorted(p.name for p in out_dir.glob("*.wav"))
        if not any("level0" in w for w in wavs):
            raise RuntimeError(f"no level-0 take written: {wavs}")
        device = [l for l in text.splitlines() if "CUDA" in l or "CPU" in l][:3]
        return {"wall_s": round(time.monotonic() - began, 1), "takes": wavs, "device_lines": device}
    run_step(results, clock, "cli:continue", args.test_budget_s, fn)


def wait_for_prepare(args, clock: Clock, ready) -> dict:
    """prepare.json once `ready(data)` holds, prepare has ended, or the clock has run out."""
    path, pid_file = Path(args.work) / "prepare.json", Path(args.work) / "prepare.pid"
    data: dict = {}
    if not path.exists() and not pid_file.exists():
        print("[gpu-check] no prepare phase was started (did the first call run?)", flush=True)
        return data
    while clock.left() > 0:
        try:
            data = json.loads(path.read_text()) if path.exists() else {}
        except json.JSONDecodeError:
            time.sleep(0.5)  # being rewritten
            continue
        if ready(data) or data.get("done"):
            return data
        if pid_file.exists() and not alive(int(pid_file.read_text())):
            print("[gpu-check] the prepare phase ended without finishing", flush=True)
            return data
        time.sleep(2)
    return data


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def first_logits_path(args, key: str, graphs: str) -> Path:
    folder = Path(args.work) / "logits"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{key}.graphs_{graphs}"


def first_logits_difference(args, base_key: str, key: str, batch: str):
    """max |logit difference| / max |logit| between a variant's first step and its base prior's
    (batch row 0, the same weights and prime), each with CUDA graphs where it ran with them: a
    variant that computes something else shows here, whatever its speed."""
    from array import array

    def load(k):
        for graphs in ("on", "off"):
            path = Path(f"{first_logits_path(args, k, graphs)}.b{batch}")
            if path.exists():
                values = array("f")
                values.frombytes(path.read_bytes())
                return values
        return None
    base, mine = load(base_key), load(key)
    if not base or not mine or len(base) != len(mine):
        return None
    scale = max(abs(v) for v in base) or 1.0
    return round(max(abs(a - b) for a, b in zip(base, mine)) / scale, 6)


def step_encore(args, results: Results, clock: Clock, model: dict, info: dict, graphs: str):
    key = model["key"]
    def fn(timeout):
        if graphs == "on" and args.mode != "cuda":
            raise Skip("CUDA graphs exist on CUDA only")
        if graphs == "off" and args.mode == "cuda" and model.get("variant"):
            raise Skip("a variant is measured as it runs, with CUDA graphs")
        if "n_ctx" not in info:
            raise Skip("no graphs were made for this prior (its export did not finish)")
        cmd = [Path(args.bin) / "step_bench", "--model", info["dir"], "--level", str(model["level"]), "--device", args.mode,
               "--precision", model_precision(args, model), "--batch", *map(str, args.batch),
               "--prime", str(prime_for(args, info["n_ctx"])),
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--cuda-graphs", graphs,
               "--first-logits", first_logits_path(args, key, graphs)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        lines = json_lines(sh(cmd, timeout, env=runtime_env(args), log=Path(args.work) / "encore.log"))
        entry = {"opened": lines[0], "batches": {str(l["batch"]): l for l in lines[1:]}}
        results.model(key).setdefault("encore", {})[f"graphs_{graphs}"] = entry
        return {"batches": sorted(entry["batches"])}
    budget = args.encore_budget_s * (2 if "5b" in key else 1)
    run_step(results, clock, f"encore:{key}:graphs_{graphs}", budget, fn)


def profile_summary(path: Path) -> dict:
    """ONNX Runtime's profile of one session, per operator type and per run that executed
    nodes (a replayed CUDA graph executes none): nodes, microseconds of their `Compute` on the
    host (on CUDA mostly the launch: kernels run asynchronously) and the providers they ran on."""
    events = json.loads(path.read_text())
    runs = sum(1 for e in events if e.get("name") == "SequentialExecutor::Execute") or 1
    ops: dict = {}
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        op = ops.setdefault(e["args"].get("op_name", "?"), {"nodes": 0, "us": 0, "providers": set()})
        op["nodes"] += 1
        op["us"] += e.get("dur", 0)
        op["providers"].add(e["args"].get("provider", "?").replace("ExecutionProvider", ""))
    table = sorted(({"op": name, "nodes_per_run": round(v["nodes"] / runs, 1), "us_per_run": round(v["us"] / runs, 1),
                     "providers": sorted(v["providers"])} for name, v in ops.items()), key=lambda r: -r["us_per_run"])
    return {"runs_with_nodes": runs, "nodes_per_run": round(sum(r["nodes_per_run"] for r in table), 1),
            "us_per_run": round(sum(r["us_per_run"] for r in table), 1), "ops": table}


def step_profile(args, results: Results, clock: Clock, model: dict, info: dict):
    """Where a step's time goes, per operator: ONNX Runtime's profile of batch-1 steps after a
    one-position prime (so every run of the prefill graph is a step's shape too). On CUDA the
    step graph is captured, so only its runs before the capture show; with CUDA graphs off the
    steps run on the prefill graph's session, which this also shows."""
    key = model["key"]
    def fn(timeout):
        if "n_ctx" not in info:
            raise Skip("no graphs were made for this prior (its export did not finish)")
        folder = Path(args.work) / f"profile-{key}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        graphs = "on" if args.mode == "cuda" else "off"
        cmd = [Path(args.bin) / "step_bench", "--model", info["dir"], "--level", str(model["level"]), "--device", args.mode,
               "--precision", model_precision(args, model), "--batch", "1", "--prime", "1", "--steps", "5", "--warmup", "2",
               "--cuda-graphs", graphs, "--profile", folder / "session"]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        sh(cmd, timeout, env=runtime_env(args), log=Path(args.work) / "profile.log")
        sessions = {}
        for file in sorted(folder.glob("session-*.json")):
            graph = file.name[len("session-"):].rsplit("_", 3)[0]  # session-<graph>_<date>_<time>_<ms>.json
            if ".conditioning." not in graph:
                sessions[graph] = profile_summary(file)
        if not sessions:
            raise RuntimeError(f"no profile was written under {folder}")
        results.model(key)["profile"] = sessions
        return {graph: (v["nodes_per_run"], v["us_per_run"]) for graph, v in sessions.items()}
    run_step(results, clock, f"profile:{key}", args.encore_budget_s, fn)


def run(args, prepared: dict | None = None) -> Results:
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results = Results(work / "run.json", "run", args.resume)
    clock = Clock(args.run_budget_s)
    step_install(args, results, clock)
    if prepared is None:
        print("[gpu-check] waiting for the reference timings to end (the device is theirs)", flush=True)
        wait_for_prepare(args, clock, lambda d: d.get("references_done"))
    step_tiny_tests(args, results, clock)
    step_cli(args, results, clock)
    for index, model in enumerate(models_for(args)):
        if prepared is None or not prepared.get("done"):
            print(f"[gpu-check] waiting for the graphs of {model['key']}", flush=True)
            prepared = wait_for_prepare(args, clock, lambda d, k=model["key"]: "n_ctx" in d.get("models", {}).get(k, {}))
        info = {**prepared.get("models", {}).get(model["key"], {})}
        results.model(model["key"]).update({k: v for k, v in info.items() if k != "reference"})
        for graphs in ("off", "on"):
            step_encore(args, results, clock, model, info, graphs)
        if index == 0 or model.get("variant") == "classic":
            # Where a step's time goes: the new default's and the graph it replaces.
            step_profile(args, results, clock, model, info)
    results.data["done"] = True
    results.save()
    return results


# ----------------------------------------------------------------------------- report

def best_encore(entry: dict, batch: str):
    times = [(v["batches"][batch]["median_ms"], k) for k, v in entry.get("encore", {}).items() if batch in v["batches"]]
    return min(times) if times else (None, None)


def report(args, prepared: dict, ran: dict) -> dict:
    pack = {}
    if args.payload and (Path(args.payload) / "pack.json").exists():
        pack = json.loads((Path(args.payload) / "pack.json").read_text())
    bandwidth = prepared.get("bandwidth", {})
    gbps = bandwidth.get("gbps_read_plus_written_median")
    out = {"schema": SCHEMA, "status": "measured", "mode": args.mode,
           "device": (prepared.get("environment") or {}).get("gpu") or ("CPU" if args.mode == "cpu" else None),
           "date": (prepared.get("environment") or {}).get("date"),
           "commit": pack.get("commit") or git_commit(),
           "command": "cargo xtask gpu-check pack, then the device calls it prints" if args.mode == "cuda"
           else "cargo xtask gpu-check --cpu" + (" --full-size" if args.model else ""),
           "environment": prepared.get("environment"), "bandwidth": bandwidth,
           "tiny_tests": {s["name"].split(":", 1)[1]: s for s in ran.get("steps", []) if s["name"].startswith("tests:")},
           "steps": prepared.get("steps", []) + ran.get("steps", []), "models": []}
    if any(s["status"] not in ("ok", "skipped") for s in out["steps"]) or not ran.get("done") or not prepared.get("done"):
        out["status"] = "partial"
    models = models_for(args)
    for model in models:
        info = {**prepared.get("models", {}).get(model["key"], {}), **ran.get("models", {}).get(model["key"], {})}
        if not info:
            continue
        # The same prior in fp32 on the same weights, if measured: every other graph's first
        # logits are compared with its.
        fp32_key = next((m["key"] for m in models if m["level"] == model["level"] and m["config"] == model["config"]
                         and model_precision(args, m) == "fp32"), None)
        fp32_key = None if fp32_key == model["key"] else fp32_key
        weights = info.get("step_weights_bytes")
        floor = round(weights / (gbps * 1e9) * 1e3, 3) if weights and gbps else None
        row = {"key": model["key"], "level": model["level"], "precision": info.get("precision"),
               "layers": info.get("layers"), "step_weights_bytes": weights, "floor_ms": floor,
               "step_kernel_nodes": info.get("step_kernel_nodes"),
               "h200_predicted_ms_batch1": predicted_ms(info.get("step_kernel_nodes"), weights),
               "batches": {}, "profile": info.get("profile")}
        for batch in map(str, args.batch):
            def pick(source, field, batch=batch):
                return ((source or {}).get("batches", {}).get(batch) or {}).get(field)
            enc = info.get("encore", {})
            ref = info.get("reference")
            best, which = best_encore(info, batch)
            reference_ms = pick(ref, "median_ms")
            row["batches"][batch] = {
                "encore_ms_graphs_off": pick(enc.get("graphs_off"), "median_ms"),
                "encore_ms_graphs_on": pick(enc.get("graphs_on"), "median_ms"),
                "reference_ms": reference_ms,
                "best_over_floor": round(best / floor, 2) if best and floor else None,
                "reference_over_best": round(reference_ms / best, 2) if best and reference_ms else None,
                "encore_prefill_ms": pick(enc.get(which) if which else None, "prefill_ms"),
                "reference_prefill_ms": pick(ref, "prefill_ms"),
                "prime": pick(ref, "prime") or pick(enc.get("graphs_off"), "prime"),
                "encore_memory": pick(enc.get(which) if which else None, "gpu_memory") or pick(enc.get(which) if which else None, "memory"),
                "reference_memory": pick(ref, "memory"),
                "first_logits_vs_fp32": first_logits_difference(args, fp32_key, model["key"], batch) if fp32_key else None,
            }
        if model.get("variant"):
            base = next((r for r in out["models"] if r["key"] == model["key"][: -len(model["variant"]) - 1]), None)
            row["variant"] = model["variant"]
            for batch, b in row["batches"].items():
                mine, theirs = best_encore(info, batch)[0], (base or {}).get("batches", {}).get(batch, {})
                base_best = min((t for t in (theirs.get("encore_ms_graphs_on"), theirs.get("encore_ms_graphs_off")) if t),
                                default=None)
                b["base_over_this"] = round(base_best / mine, 3) if mine and base_best else None
                b["first_logits_vs_base"] = first_logits_difference(args, base["key"] if base else "", row["key"], batch)
        out["models"].append(row)
    return out


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip() or None
    except OSError:
        return None


def markdown(rep: dict) -> str:
    def f(x, unit=""):
        return "-" if x is None else f"{x}{unit}"
    lines = [f"# GPU check ({rep['status']})", "",
             f"device: {rep['device']}, date: {rep['date']}, commit: {rep['commit']}, mode: {rep['mode']}", "",
             f"bandwidth: {f(rep['bandwidth'].get('gbps_read_plus_written_median'))} GB/s ({rep['bandwidth'].get('method', '-')})", "",
             "| prior | batch | Encore ms/step, graphs off | graphs on | reference ms/step | floor ms | best/floor | reference/best | prefill ms Encore / reference (prime) | memory Encore / reference |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rep["models"]:
        for batch, b in row["batches"].items():
            lines.append(f"| {row['key']} ({row['precision']}, {f(row['layers'])} layers) | {batch} | {f(b['encore_ms_graphs_off'])} | "
                         f"{f(b['encore_ms_graphs_on'])} | {f(b['reference_ms'])} | {f(row['floor_ms'])} | {f(b['best_over_floor'])} | "
                         f"{f(b['reference_over_best'])} | {f(b['encore_prefill_ms'])} / {f(b['reference_prefill_ms'])} ({f(b['prime'])}) | "
                         f"{json.dumps(b['encore_memory'])} / {json.dumps(b['reference_memory'])} |")
    predictions = [row for row in rep["models"] if row.get("h200_predicted_ms_batch1")]
    if predictions:
        lines += ["", "The cost model's prediction for an H200 at batch 1 (docs/performance.md) against what ran here:", "",
                  "| prior | kernel nodes in the step | predicted ms | measured ms, batch 1 (graphs on / off) |",
                  "|---|---|---|---|"]
        for row in predictions:
            lo, hi = row["h200_predicted_ms_batch1"]
            b1 = row["batches"].get("1", {})
            lines.append(f"| {row['key']} ({row['precision']}) | {row['step_kernel_nodes']} | {lo}-{hi} | "
                         f"{f(b1.get('encore_ms_graphs_on'))} / {f(b1.get('encore_ms_graphs_off'))} |")
    drifts = [(row["key"], ", ".join(f"batch {k}: {f(b.get('first_logits_vs_fp32'))}" for k, b in row["batches"].items()))
              for row in rep["models"] if any(b.get("first_logits_vs_fp32") is not None for b in row["batches"].values())]
    if drifts:
        lines += ["", "First step's max |logit difference| from fp32's on the same weights, over fp32's largest |logit|:", ""]
        lines += [f"- {key}: {text}" for key, text in drifts]
    for row in rep["models"]:
        if row.get("variant"):
            ratios = ", ".join(f"batch {k}: {f(b.get('base_over_this'))}" for k, b in row["batches"].items())
            drift = ", ".join(f"batch {k}: {f(b.get('first_logits_vs_base'))}" for k, b in row["batches"].items())
            lines += ["", f"{row['key']}: the base prior's best ms/step over this variant's ({ratios}); "
                      f"first step's max |logit difference| from the base's, over its largest |logit| ({drift})"]
    for row in rep["models"]:
        for graph, prof in (row.get("profile") or {}).items():
            lines += ["", f"Profile of {row['key']}, {graph}: {prof['nodes_per_run']} nodes and {prof['us_per_run']} us "
                      f"(host) per run, over {prof['runs_with_nodes']} runs", "",
                      "| op | nodes per run | us per run | providers |", "|---|---|---|---|"]
            lines += [f"| {o['op']} | {o['nodes_per_run']} | {o['us_per_run']} | {', '.join(o['providers'])} |" for o in prof["ops"][:15]]
    lines += ["", "| step | status | s | reason |", "|---|---|---|---|"]
    for s in rep["steps"]:
        lines.append(f"| {s['name']} | {s['status']} | {s['seconds']} | {s.get('reason', '')} |")
    return "\n".join(lines) + "\n"


def write_report(args, prepared: dict, ran: dict):
    rep = report(args, prepared, ran)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu-check.json").write_text(json.dumps(rep, indent=1) + "\n")
    (out / "gpu-check.md").write_text(markdown(rep))
    logs = sorted(Path(args.work).glob("*.log"))
    with open(out / "gpu-check.log", "w") as f:  # one file: at most 8 come back from the device
        for log in logs:
            text = log.read_text(errors="replace")
            f.write(f"===== {log.name} (last 200 kB)\n{text[-200_000:]}\n")
    print(markdown(rep), flush=True)


# ----------------------------------------------------------------------------- main

def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("phase", choices=["all", "prepare", "run"])
    p.add_argument("--mode", choices=["cpu", "cuda"], required=True)
    p.add_argument("--scale", choices=["tiny", "full"], default=None, help="default: full on CUDA, tiny on the CPU")
    p.add_argument("--model", help="measure this exported folder instead of making graphs (with --level)")
    p.add_argument("--level", type=int, default=2)
    p.add_argument("--work", default="/tmp/encore-gpu")
    p.add_argument("--bin", help="folder with step_bench and the test binaries (default WORK/bin)")
    p.add_argument("--payload", help="the last device call's carried folder (pack.json, parts, bin.tar.xz)")
    p.add_argument("--out", default=os.environ.get("OUT", "target/gpu-check/out"))
    p.add_argument("--ort", help="CPU: the ONNX Runtime library (default runtime/onnxruntime-cpu)")
    p.add_argument("--batch", type=int, nargs="+", default=None, help="default: 1 3 16")
    p.add_argument("--prime", type=int, default=400)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="CPU intra-op threads (Encore and torch alike)")
    p.add_argument("--with-5b", action="store_true",
                   help="also 5b_lyrics' top prior (fp16 weights 11 GB: minutes more; give it to both phases)")
    p.add_argument("--variants", nargs="*", choices=list(VARIANTS), default=list(VARIANTS),
                   help="the step-graph experiments to measure beside the default (default: all)")
    p.add_argument("--resume", action="store_true", help="keep the steps an earlier run of this phase finished")
    p.add_argument("--test-filter", nargs="*", default=[], help="passed to the test binaries (a test name filter)")
    p.add_argument("--prepare-budget-s", type=float, default=420)
    p.add_argument("--run-budget-s", type=float, default=540)
    p.add_argument("--export-budget-s", type=float, default=150)
    p.add_argument("--reference-budget-s", type=float, default=120)
    p.add_argument("--encore-budget-s", type=float, default=90)
    p.add_argument("--test-budget-s", type=float, default=90)
    args = p.parse_args(argv)
    args.scale = args.scale or ("full" if args.mode == "cuda" else "tiny")
    args.batch = args.batch or [1, 3, 16]
    args.bin = args.bin or str(Path(args.work) / "bin")
    return args


def main(argv=None) -> int:
    args = parse(argv)
    work = Path(args.work)
    if args.phase == "prepare":
        prepare(args)
        return 0
    if args.phase == "all":
        prepared = prepare(args).data
        ran = run(args, prepared).data
    else:
        ran = run(args).data
        prepared = json.loads((work / "prepare.json").read_text()) if (work / "prepare.json").exists() else {}
    write_report(args, prepared, ran)
    failed = [s["name"] for s in prepared.get("steps", []) + ran["steps"] if s["status"] in ("failed", "timeout")]
    if failed:
        print(f"[gpu-check] failed: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
