"""A minimal Python engine over the exported graphs, the way the Rust engine is meant to run them.

Every cache is one OrtValue allocated (zeroed) once per window; the prefill and step graphs get
it bound as input `cache.{i}.key` AND output `cache.{i}.key_out` through IoBinding, so ONNX
Runtime's ScatterElements writes the new rows straight into it. Type-6 caches are bound as the
conditioning graph's outputs the same way. Used by the parity tests and by the replay of goldens.
"""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort

NP_DTYPE = {"float32": np.float32, "float16": np.float16, "int64": np.int64}


def _session(path: str, threads: int = 1, config: dict | None = None) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    for key, value in (config or {}).items():  # e.g. {"session.disable_prepacking": "1"}
        opts.add_session_config_entry(key, value)
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


class OrtPrior:
    def __init__(self, out_dir: str, exported: dict, threads: int = 1, config: dict | None = None,
                 graphs: tuple = ("conditioning", "prefill", "step")):
        self.section = exported["section"]
        entries = {g["graph"]: g for g in exported["graphs"] if g["graph"] in graphs}
        self.sessions = {name: _session(os.path.join(out_dir, g["file"]), threads, config) for name, g in entries.items()}
        self.precision = exported["graphs"][0]["precision"]
        self.cache_dtype = NP_DTYPE[self.section["cache"]["dtype"][self.precision]]
        self.caches: dict[str, ort.OrtValue] = {}

    # ---- caches ----

    def new_caches(self, batch: int):
        """Allocate every layer's key/value cache, zeroed (masked slots must hold finite values)."""
        c = self.section["cache"]
        heads, head_dim = c["shape"][1], c["shape"][3]
        self.caches = {}
        for layer in c["layers"]:
            shape = (batch, heads, layer["slots"], head_dim)
            for name in (layer["key"], layer["value"]):
                self.caches[name] = ort.OrtValue.ortvalue_from_numpy(np.zeros(shape, self.cache_dtype))

    def cache(self, name: str) -> np.ndarray:
        return self.caches[name].numpy()

    # ---- graphs ----

    def conditioning(self, **inputs) -> dict:
        """Run the conditioning graph; type-6 caches are written into the bound cache buffers."""
        sess = self.sessions["conditioning"]
        io = sess.io_binding()
        for inp in sess.get_inputs():
            io.bind_cpu_input(inp.name, np.ascontiguousarray(inputs[inp.name], dtype=np.int64))
        outs = {}
        for out in sess.get_outputs():
            if out.name in self.caches:
                io.bind_ortvalue_output(out.name, self.caches[out.name])
            else:
                io.bind_output(out.name, "cpu")
                outs[out.name] = None
        sess.run_with_iobinding(io)
        values = io.get_outputs()
        names = [o.name for o in sess.get_outputs()]
        return {n: v.numpy() for n, v in zip(names, values) if n in outs}

    def _run_decoder(self, graph: str, feeds: dict, rings_apart: bool = False) -> np.ndarray:
        """rings_apart: bind the ring caches' outputs to other buffers and copy them back after
        the run (a prefill chunk that crosses an attention block must)."""
        sess = self.sessions[graph]
        io = sess.io_binding()
        for name, value in feeds.items():
            io.bind_cpu_input(name, value)
        for name, value in self.caches.items():
            io.bind_ortvalue_input(name, value)
        rings = {n for layer in self.section["cache"]["layers"] if layer["kind"] == "ring"
                 for n in (layer["key"], layer["value"])} if rings_apart else set()
        apart = []
        for out in sess.get_outputs():
            cache = out.name[: -len("_out")]
            if out.name == "logits":
                io.bind_output("logits", "cpu")
            elif cache in rings:
                io.bind_output(out.name, "cpu")
                apart.append(cache)
            else:  # cache.{i}.key_out -> the very buffer bound as cache.{i}.key
                io.bind_ortvalue_output(out.name, self.caches[cache])
        sess.run_with_iobinding(io)
        names = [o.name for o in sess.get_outputs()]
        values = dict(zip(names, io.get_outputs()))
        for cache in apart:
            self.caches[cache].update_inplace(values[cache + "_out"].numpy())
        return values["logits"].numpy()

    def step(self, token, position: int, cond, start_emb) -> np.ndarray:
        """token (B,) ids fed at `position` (previous id; ignored at 0); cond (B, n_ctx, W): the
        window's whole conditioning (the graph gathers the row)."""
        return self._run_decoder(
            "step",
            {
                "token": np.ascontiguousarray(token, dtype=np.int64),
                "position": np.array([position], dtype=np.int64),
                "cond": np.ascontiguousarray(cond, dtype=np.float32),
                "start_emb": np.ascontiguousarray(start_emb, dtype=np.float32),
            },
        )

    def prefill(self, tokens, position: int, cond, start_emb) -> np.ndarray:
        """tokens (B, L) ids fed at positions position..position+L-1 (any L)."""
        bc = self.section["block_ctx"]
        spans = position % bc + tokens.shape[1] > bc
        return self._run_decoder(
            "prefill",
            {
                "tokens": np.ascontiguousarray(tokens, dtype=np.int64),
                "position": np.array([position], dtype=np.int64),
                "cond": np.ascontiguousarray(cond, dtype=np.float32),
                "start_emb": np.ascontiguousarray(start_emb, dtype=np.float32),
            },
            rings_apart=spans,
        )

    def prefill_all(self, seq_inputs, start: int, cond, start_emb, max_chunk: int | None = None):
        """Prefill positions start..start+L-1 in chunks of max_chunk (default: 4 blocks);
        returns logits (B, L, V)."""
        bc = self.section["block_ctx"]
        out, pos, end = [], start, start + seq_inputs.shape[1]
        while pos < end:
            n = min(end - pos, max_chunk or 4 * bc)
            out.append(self.prefill(seq_inputs[:, pos - start : pos - start + n], pos, cond, start_emb))
            pos += n
        return np.concatenate(out, axis=1)


def replay_level(engine: OrtPrior, golden: dict, level: int, prefill_chunk: int | None = None):
    """Re-run one level of goldens/sampled.npz through the graphs with the recorded uniforms.

    Follows the port window by window: conditioning from the recorded label vector (and upper
    codes), prime = lyric prefix + the window's existing codes fed through prefill, then one
    step per new position, ids picked by sampling.sample_rows. Returns (ids (N, B), codes (B, T))."""
    from .sampling import sample_rows

    sec = engine.section
    v = f"l{level}_"
    genres_n = sec["conditioning"]["max_nb_genres"]
    offset_id = sec["token_offset"]
    codes = golden[v + "prompt"].copy()
    temperature = float(golden[v + "temperature"])
    top_k, top_p = int(golden["top_k"]), float(golden["top_p"])
    uniforms = golden[v + "uniforms"]
    ids_out, call = [], 0
    for w, start in enumerate(golden[v + "window_start"]):
        meta = golden[v + "window_metadata"][w]
        feeds = {"artist": meta[:, 3], "genres": meta[:, 4 : 4 + genres_n]}
        if sec["conditioning"]["timing"]:
            feeds.update(total_length=meta[:, 0], offset=meta[:, 1], sample_length=meta[:, 2])
        lyric_window = meta[:, 4 + genres_n :]
        if "lyrics" in sec["conditioning"]["inputs"]:
            feeds["lyrics"] = lyric_window
        if sec["kind"] == "upsampler":
            feeds["upper_codes"] = golden[v + "window_upper"][w]
        batch = meta.shape[0]
        engine.new_caches(batch)
        cond = engine.conditioning(**feeds)
        start_emb, cond_rows = cond["start_emb"], cond["cond"]

        prime_codes = codes[:, start:]
        assert start + prime_codes.shape[1] == codes.shape[1]
        prefix = lyric_window if sec["lyrics"] and sec["lyrics"]["mode"] == "prefix" else np.zeros((batch, 0), np.int64)
        seq = np.concatenate([prefix, prime_codes + offset_id], axis=1)
        n_prime = seq.shape[1]
        if n_prime > 0:  # inputs at positions 0..n_prime-1 are (start, seq[0], ..., seq[n_prime-2])
            inputs = np.concatenate([np.zeros((batch, 1), np.int64), seq[:, :-1]], axis=1)
            engine.prefill_all(inputs, 0, cond_rows, start_emb, prefill_chunk)
        new_ids = []
        for t in range(n_prime, n_prime + int(golden[v + "window_new"][w])):
            token = seq[:, t - 1] if t > 0 else np.zeros(batch, np.int64)
            logits = engine.step(token, t, cond_rows, start_emb)
            ids = sample_rows(logits, uniforms[call], temperature, top_k, top_p)
            call += 1
            seq = np.concatenate([seq, ids[:, None]], axis=1)
            new_ids.append(ids)
        ids_out += new_ids
        codes = np.concatenate([codes, np.maximum(np.stack(new_ids, 1) - offset_id, 0)], axis=1)
    return np.stack(ids_out), codes
