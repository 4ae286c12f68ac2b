"""The manifest's vocabularies: artist and genre names -> ids, lyric characters -> ids, and the
rules (per tokenizer version) that turn user text into those names. The ids are transformers'
JukeboxTokenizer's (4.40); the rules are openai/jukebox's (data/artist_genre_processor.py,
data/text_processor.py), which the port changed (see docs/manifest.md).

Lyrics need no rule in the manifest: the original transliterates with Unidecode, turns `\\`
into a newline and removes every character its `not_vocab` regex matches, and that regex is
exactly the complement of its vocabulary string. So "keep the characters the `lyrics`
vocabulary has" is the whole rule; the port's `lyrics_oov_regex` is not exported (it had the
v2 and v3 patterns swapped, dropping `+` from v2 lyrics).
"""

from __future__ import annotations

import json

# v2 lyric alphabet: JukeboxTokenizer builds it in code, ids 1.. in this order, 0 = unknown.
V2_LYRIC_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.,:;!?-+'\"()[] \t\n"
NAME_RULES = {
    "v2": "lowercase; every run of characters other than ASCII letters and digits becomes one '_'; "
          "strip '_' at both ends; append '.v2'. A genre is split on '_' after that: each word is "
          "one genre id.",
    "v3": "lowercase",
}


def v2_lyrics_vocab() -> dict[str, int]:
    vocab = {"<unk>": 0}
    vocab.update({ch: i + 1 for i, ch in enumerate(V2_LYRIC_CHARS)})
    return vocab


def versions_by_level(config, tokenizer_config: dict) -> dict[str, str]:
    """Tokenizer version per VQ-VAE level ("2" is the top). The HF tokenizer lists one version
    per prior, top first; without it, the top's lyric vocabulary size decides (79 -> v3)."""
    versions = tokenizer_config.get("version")
    if not versions:
        top_lyrics = config.prior_configs[0].lyric_vocab_size
        versions = ["v3" if top_lyrics == 79 else "v2", "v2", "v2"]
    levels = len(config.prior_configs)
    return {str(levels - 1 - i): v for i, v in enumerate(versions[:levels])}


def synthetic_names(config) -> tuple[dict[str, int], dict[str, int]]:
    """Made-up artist/genre names for random-weight models, one per embedding row of every prior,
    written as each version's normalisation would produce them."""
    artists, genres = {}, {}
    levels = len(config.prior_configs)
    for index, version in enumerate(versions_by_level(config, {}).values()):
        n_genres, n_artists = config.prior_configs[index].metadata_dims
        for i in range(n_artists):
            artists[f"artist_{i}.v2" if version == "v2" else f"artist {i}"] = i
        # One word each: a v2 genre is a bag of words, so "genre 3" would be two ("genre", "3").
        for i in range(n_genres):
            genres[f"genre{i}.v2" if version == "v2" else f"genre{i}"] = i
    assert levels == 3
    return artists, genres


def vocab_section(source) -> dict:
    config = source.config
    tokenizer_config = getattr(source, "tokenizer_config", {}) or {}
    versions = versions_by_level(config, tokenizer_config)
    top_version = versions[str(len(config.prior_configs) - 1)]
    if source.vocab_files:
        artists = json.loads(source.vocab_files["artists"].read_text())
        genres = json.loads(source.vocab_files["genres"].read_text())
        lyrics = json.loads(source.vocab_files["lyrics"].read_text())
        synthetic = False
    else:
        artists, genres = synthetic_names(config)
        lyrics = None
        synthetic = True
    if top_version == "v2" or lyrics is None:
        lyrics = v2_lyrics_vocab()
        if top_version == "v3":  # v3 lost '+': 79 symbols (0 = unknown)
            lyrics = {"<unk>": 0, **{ch: i + 1 for i, ch in enumerate(V2_LYRIC_CHARS.replace("+", ""))}}
    return {
        "synthetic": synthetic,
        "tokenizer_versions": versions,
        "name_rules": {v: NAME_RULES[v] for v in sorted(set(versions.values()))},
        "unknown_id": 0,
        "artists": artists,
        "genres": genres,
        "lyrics": lyrics,
    }
