"""Goldens for the engine's text handling (src/engine/labels.rs), made by openai/jukebox's rules:

  python -m encore_export.text_goldens [--out tests/goldens/text.json]

- transliteration: Python's Unidecode (the package openai/jukebox's TextProcessor.clean calls)
  over the characters pasted lyrics hold: curly quotes, dashes, ellipsis, ß, Ø, Æ, œ, ł, č,
  Cyrillic, Greek, CJK, kana, Hangul, emoji;
- lyrics_v2 / lyrics_v3: token ids as data/text_processor.py makes them (Unidecode, `\\` to a
  newline, characters outside the vocabulary removed, ids 1.. in vocabulary order);
- names_v2 / genres_v2: data/artist_genre_processor.py's `norm`, and a v2 genre's words.
The rules are restated here (the original's package is not installable: it pins torch 1.4).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from unidecode import unidecode

DEFAULT_OUT = Path("tests/goldens/text.json")

# data/text_processor.py: the v2 and v3 vocabularies (v3 lost '+'); id = index + 1, 0 = unknown.
VOCAB = {
    "v2": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.,:;!?-+'\"()[] \t\n",
    "v3": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.,:;!?-'\"()[] \t\n",
}

LYRICS = [
    "don’t ‘quoted’ “double” „low“ ‹single› «guillemets» ‚comma‛",
    "dash – en — em ― bar ‐ hyphen ‑ non-breaking − minus ‒ figure",
    "wait… three ⋯ midline",
    "Straße ß ẞ",
    "Øresund ø Æsir æ",
    "cœur Œuvre",
    "Łódź ł Ł",
    "Dvořák č Č š ž ř",
    "Café naïve Ñoño Ångström Ç",
    "русский Москва Ёлка щ Київ є ї",
    "Ελληνικά αβγ Ωμέγα ή ώ",
    "中文 歌词 我爱你",
    "日本語 カタカナ ひらがな しちつ シチツ っ ッ ー ・",
    "한국어 사랑해",
    "emoji 😀🎵❤️👍🏽 👨‍👩‍👧 ✨ ☀ ★ ♪ ♫",
    "nbsp\u00a0here\u2009thin\u200bzero width\u2028line sep",
    "tab\tnew\nline back\\slash + plus",
    "½ ¼ ™ © ® € £ ¥ ° × ÷ № ℃",
    "ﬁ ﬂ ligatures Ĳ ǅ",
    "ＦＵＬＬ　ｗｉｄｔｈ！",
    "Ŋ ŋ Є",
    "plain ASCII: Hello, world! (It's [a] test?) \"yes\" - ok; 1 2 3.",
]

NAMES = ["R.E.M.", "AC/DC", "Guns N' Roses", "  The  Beatles! ", "Céline Dion", "Alan Jackson", "artist_3",
         "Artist 3", "50 Cent", "__x__"]
GENRES = ["Country Rock", "hip-hop", "R&B", "Rock", "rock_n_roll", "Lo-Fi  ", "Singer/Songwriter", "genre3"]

_ACCEPTED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def norm(name: str) -> str:
    """artist_genre_processor.norm: letters and digits kept, every other run one '_', trimmed."""
    name = "".join(c if c in _ACCEPTED else "_" for c in name.lower())
    return re.sub(r"_+", "_", name).strip("_")


def lyric_tokens(text: str, version: str) -> list[int]:
    """TextProcessor(v3).clean then tokenise."""
    vocab = VOCAB[version]
    text = unidecode(text).replace("\\", "\n")
    return [vocab.index(c) + 1 for c in text if c in vocab]


def goldens() -> dict:
    from importlib.metadata import version

    return {
        "made_by": f"encore_export.text_goldens with Unidecode {version('Unidecode')}",
        "transliteration": [[s, unidecode(s)] for s in LYRICS],
        "lyrics_v2": [[s, lyric_tokens(s, "v2")] for s in LYRICS],
        "lyrics_v3": [[s, lyric_tokens(s, "v3")] for s in LYRICS],
        "names_v2": [[n, norm(n)] for n in NAMES],
        "genres_v2": [[g, norm(g).split("_")] for g in GENRES],
    }


def write(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.partial")
    tmp.write_text(json.dumps(goldens(), ensure_ascii=False, indent=1) + "\n")
    tmp.replace(out)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m encore_export.text_goldens", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    print(write(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
