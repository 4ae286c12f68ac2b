"""manifest.json of the tiny fixtures: parses, is versioned, and lists every graph file exactly."""

from __future__ import annotations

import json

from conftest import model_dir
from encore_export.fixtures import FIXTURES
from encore_export.manifest import FORMAT_VERSION, read_manifest
from encore_export.onnx_graph import open_session, sha256_file

ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64",
             "tensor(int32)": "int32"}


def test_manifest_parses_and_is_versioned(tiny):
    manifest = read_manifest(model_dir(tiny))
    assert manifest["format_version"] == FORMAT_VERSION == 3
    assert manifest["audio"]["sample_rate"] == 44100
    assert manifest["vqvae"]["hop_lengths"] == [8, 32, 128]
    assert manifest["model"]["kind"] in {"5b", "5b_lyrics", "1b_lyrics"}
    sampling = manifest["sampling"]
    assert sampling["temperature"] == [0.99, 0.99, 0.98] and sampling["hop_fraction"] == [0.5, 0.5, 0.125]
    assert sampling["top_k"] == 0 and sampling["top_p"] == 0.0
    vocab = manifest["vocabularies"]
    assert vocab["lyrics"]["<unk>"] == 0 and set(vocab["tokenizer_versions"]) == {"0", "1", "2"}


def test_sampling_defaults_are_by_vqvae_level(tiny):
    """Index 0 is the finest level (as openai/jukebox's sample.py indexes hop_fraction[level] and
    sampling_kwargs[level]): the top level, last, advances by 1/8 window at temperature 0.98."""
    manifest = read_manifest(model_dir(tiny))
    sampling, levels = manifest["sampling"], manifest["vqvae"]["levels"]
    top = levels - 1
    assert sampling["hop_fraction"][top] == 0.125 and sampling["temperature"][top] == 0.98
    assert all(sampling["hop_fraction"][level] == 0.5 for level in range(top))
    assert all(sampling["temperature"][level] == 0.99 for level in range(top))
    # n_ctx (music codes per window) is by level too: priors[] say which level each prior samples.
    for prior in manifest["priors"]:
        assert sampling["n_ctx"][prior["level"]] == prior["music_ctx"]


def test_by_level_reverses_transformers_prior_order():
    from encore_export.manifest import by_level, sampling_section
    from encore_export.random_weights import load_config
    from encore_export.fixtures import CONFIGS

    assert by_level([0.125, 0.5, 0.5], 3) == [0.5, 0.5, 0.125]
    config = load_config(CONFIGS / "5b.json")
    assert config.vqvae_config.hop_fraction[0] == 0.125  # transformers: prior index 0 = top
    assert sampling_section(config)["hop_fraction"] == [0.5, 0.5, 0.125]


def test_every_graph_file_is_listed_with_its_sha256(tiny):
    folder = model_dir(tiny)
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = {}
    for entry in manifest["graphs"]:
        listed[entry["file"]] = entry["sha256"]
        if entry.get("external_data"):
            listed[entry["external_data"]["file"]] = entry["external_data"]["sha256"]
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix in {".onnx", ".data", ".weights"}}
    assert on_disk == set(listed), f"unlisted: {on_disk - set(listed)}, missing: {set(listed) - on_disk}"
    for file, digest in listed.items():
        assert sha256_file(folder / file) == digest, f"{file}: sha256 differs from the manifest"


def test_declared_io_is_what_onnxruntime_sees(tiny):
    folder = model_dir(tiny)
    for entry in read_manifest(folder)["graphs"]:
        session = open_session(folder / entry["file"])
        for declared, actual in ((entry["inputs"], session.get_inputs()), (entry["outputs"], session.get_outputs())):
            assert [d["name"] for d in declared] == [a.name for a in actual], entry["file"]
            for d, a in zip(declared, actual):
                assert d["dtype"] == ORT_TYPES[a.type], f"{entry['file']}:{a.name}"
                assert list(d["shape"]) == list(a.shape), f"{entry['file']}:{a.name}: {d['shape']} vs {a.shape}"


def test_vqvae_graphs_cover_every_level_and_precision(tiny):
    graphs = read_manifest(model_dir(tiny))["graphs"]
    have = {(g["kind"], g["level"], g["precision"]) for g in graphs if g["kind"].startswith("vqvae")}
    want = {("vqvae_encoder", level, "fp32") for level in range(3)}
    # Decoders in fp32 always (the engine decodes with it at every prior precision), and in
    # fp16 beside it where the fixture has fp16; never in the quantised precisions.
    want |= {("vqvae_decoder", level, p) for level in range(3) for p in ["fp32", *FIXTURES[tiny][2]]
             if p in ("fp32", "fp16")}
    assert want == have, f"missing {want - have}, unexpected {have - want}"


def test_fixtures_stay_small():
    """All three fixtures together stay well under ~15 MB (they live in git)."""
    total = sum(p.stat().st_size for name in ("tiny-5b", "tiny-5b-lyrics", "tiny-1b-lyrics")
                for p in model_dir(name).rglob("*") if p.is_file())
    assert total < 15e6, f"fixtures hold {total / 1e6:.1f} MB"


def test_vocabularies_follow_the_original(tiny):
    """openai/jukebox's rules: lyrics keep what the vocabulary has (no separate regex: the
    port's had v2 and v3 swapped, dropping '+' from v2 lyrics); v2 genres are single words."""
    vocab = read_manifest(model_dir(tiny))["vocabularies"]
    assert "lyrics_oov_regex" not in vocab
    v2_genres = [key for key in vocab["genres"] if key.endswith(".v2")]
    assert v2_genres and all(key[:-3].isalnum() for key in v2_genres), v2_genres[:5]
    assert "+" in vocab["lyrics"] or len(vocab["lyrics"]) == 79  # v3 (1b_lyrics) lost '+'


def test_the_decoder_architecture_is_declared(tiny):
    """What the engine sizes a streamed chunk's context from (Jukebox: depth 4, growth 3,
    level 0 twice as deep)."""
    manifest = read_manifest(model_dir(tiny))
    decoder = manifest["vqvae"]["decoder"]
    config_file, seed, _ = FIXTURES[tiny]
    from encore_export.fixtures import CONFIGS
    from encore_export.random_weights import load_config

    vq = load_config(CONFIGS / config_file).vqvae_config
    assert decoder == {
        "res_depth": [vq.res_conv_depth * m for m in vq.multipliers],
        "dilation_growth_rate": vq.res_dilation_growth_rate,
        "dilation_cycle": vq.res_dilation_cycle,
        "downs_t": list(vq.res_downs_t),
        "strides_t": list(vq.res_strides_t),
    }


def test_the_deep_fixture_has_the_real_decoder_depth():
    decoder = read_manifest(model_dir("tiny-vqvae-deep"))["vqvae"]["decoder"]
    assert decoder["res_depth"] == [8, 4, 4] and decoder["dilation_growth_rate"] == 3
    assert decoder["downs_t"] == [3, 2, 2] and decoder["strides_t"] == [2, 2, 2]


def test_1b_lyrics_takes_one_genre():
    """hparams.py: labels_v3 (the 1b_lyrics top prior) has max_bow_genre_size=1; the v2
    upsamplers keep 5."""
    manifest = read_manifest(model_dir("tiny-1b-lyrics"))
    assert manifest["labels"]["max_nb_genres"] == 1
    slots = {p["level"]: p["conditioning"]["max_nb_genres"] for p in manifest["priors"]}
    assert slots == {2: 1, 1: 5, 0: 5}
    from encore_export.fixtures import CONFIGS
    from encore_export.random_weights import load_config

    full = load_config(CONFIGS / "1b_lyrics.json")
    assert [p.max_nb_genres for p in full.prior_configs] == [1, 5, 5]
