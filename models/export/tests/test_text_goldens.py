"""tests/goldens/text.json (what the engine's lyrics and name handling is checked against) is
what Python's Unidecode and openai/jukebox's rules make today."""

from __future__ import annotations

import json

from conftest import REPO_ROOT
from encore_export import text_goldens


def test_the_committed_goldens_are_current():
    committed = json.loads((REPO_ROOT / text_goldens.DEFAULT_OUT).read_text())
    assert committed == json.loads(json.dumps(text_goldens.goldens()))


def test_the_rules_are_the_originals():
    assert text_goldens.lyric_tokens("don’t — ok… +", "v2") == text_goldens.lyric_tokens("don't -- ok... +", "v2")
    assert text_goldens.lyric_tokens("+", "v2") == [70] and text_goldens.lyric_tokens("+", "v3") == []
    assert text_goldens.norm("R.E.M.") == "r_e_m" and text_goldens.norm("Country Rock").split("_") == ["country", "rock"]
