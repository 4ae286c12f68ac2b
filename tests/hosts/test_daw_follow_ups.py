"""A take's follow-up driven by the host, end to end in DawDreamer on the tiny model (CPU):
three previews at level 2, take 2 chosen and upsampled to level 0 by automating the `upsample`
parameter, the project saved while that runs and the host killed; the reopened project keeps
every take, resumes the upsample, and its level-0 codes are those of one run straight to level 0
with the same prompt and seed; the timeline plays the chosen take at level 0. Then the `extend`
parameter continues that take (a new take, its parent linked, that the timeline plays once
chosen) and the `regenerate` parameter re-generates another take from a point, snapped to the
bar line ("Start at: next bar"); a last save and reload keeps every take.

The worker's side of all four follow-ups (Retry too) is tested in
`src/plugin/follow_up_pipeline_tests.rs`."""

import json
from pathlib import Path

import numpy as np
import pytest

from daw_workflow import (
    SAMPLE_RATE,
    UPSAMPLE_SECONDS,
    Session,
    crashed_session,
    prompt_audio,
    unused_x_display,
)
from encore_host import wait_for
from test_daw_workflow import assert_take_on_the_track, read_wav


@pytest.fixture(scope="module", autouse=True)
def headless_juce():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISPLAY", unused_x_display())
        yield


def level_codes(take: dict, level: int) -> list[int]:
    """The take's codes at `level`, from the checkpoint that holds them (its source)."""
    source = take["source"]
    state = json.loads(Path(source["checkpoint"]).read_text())["state"]
    row = state["take_numbers"].index(source["number"])
    return state["finished"][level][row]


def test_an_upsample_triggered_by_the_host_resumes_in_the_reopened_project(tmp_path):
    state_file = tmp_path / "crashed-project.bin"
    takes_dir = tmp_path / "takes"
    crashed = crashed_session("upsample", state_file, takes_dir)
    levels = [t["level"] for t in crashed["takes"]]
    # Take 2 may have reached level 1 before the save; not level 0.
    assert levels[0] == levels[2] == 2 and levels[1] in (1, 2), levels
    assert crashed["chosen"] == 2
    assert [u["take_ids"] for u in crashed["unfinished"]] == [[2]], "the upsample was not saved"
    assert Path(crashed["unfinished"][0]["checkpoint"]).is_file()

    audio = prompt_audio(2.0)
    reopened = Session(audio, state=state_file.read_bytes())
    # The host activates the plugin to render; the worker resumes the upsample.
    reopened.render(0.5)
    state = wait_for(
        reopened.session,
        lambda s: not s["unfinished"] and any(t["id"] == 2 and t["level"] == 0 for t in s["takes"]),
        timeout_s=300.0,
        what="the resumed upsample of take 2",
    )
    takes = {t["id"]: t for t in state["takes"]}
    assert {i: t["level"] for i, t in takes.items()} == {1: 2, 2: 0, 3: 2}
    upsampled = takes[2]
    assert upsampled["name"] == "Take 2" and Path(upsampled["file"]).name == "Take 2 L0.wav"
    assert upsampled["timeline_start"] == crashed["takes"][1]["timeline_start"]
    assert (takes_dir / "Take 2 L2.wav").is_file()
    assert state["chosen"] == 2
    # The preview's codes are kept (the other takes still use them) and are the upsample's.
    assert level_codes(upsampled, 2) == level_codes(crashed["takes"][1], 2)

    # One run straight to level 0, same prompt, seed and settings: the same codes for take 2.
    one_go = Session(audio)
    one_go.configure(tmp_path / "one-go", seconds=UPSAMPLE_SECONDS, level="level 0", takes=3)
    one_go.render(2.5, continue_at=2.0)
    straight = one_go.wait_for_takes(level=0, count=3, timeout_s=300.0)["takes"][1]
    assert level_codes(upsampled, 0) == level_codes(straight, 0)

    # The timeline plays the chosen take at level 0.
    rendered = reopened.render(2.0 + UPSAMPLE_SECONDS + 0.5)
    assert_take_on_the_track(rendered, audio, upsampled)

    # Extend the chosen take by 1.5 s with the `extend` parameter: a new take, its parent linked,
    # sampled at the Continue level (previews), as long as the parent plus the extension.
    reopened.set_params(extend_by={"f32": 1.5}, regenerate_from={"f32": 1.7}, takes={"i32": 2})
    reopened.render(0.5, extend_at=0.1)
    state = wait_for(
        reopened.session,
        lambda s: not s["unfinished"] and any(t.get("parent") for t in s["takes"]),
        timeout_s=300.0,
        what="the extension of take 2",
    )
    extended = next(t for t in state["takes"] if t.get("parent"))
    assert extended["parent"] == {"take": 2, "name": "Take 2", "derivation": "Extended"}
    assert extended["name"] == "Take 2 · +1.5 s" and extended["level"] == 2
    assert extended["timeline_start"] == upsampled["timeline_start"]
    assert abs(extended["frames"] - (UPSAMPLE_SECONDS + 1.5) * SAMPLE_RATE) <= 0.01 * SAMPLE_RATE
    assert Path(extended["file"]).is_file() and Path(upsampled["file"]).is_file()

    # The timeline plays the extension once it is chosen.
    reopened.choose(extended["id"])
    rendered = reopened.render(2.0 + UPSAMPLE_SECONDS + 1.5 + 0.5)
    assert_take_on_the_track(rendered, audio, extended)

    # Re-generate take 1 from 1.7 s with the `regenerate` parameter: the nearest bar line (2 s
    # at 120 bpm in 4/4, the take starting on a bar) is kept, and `takes` (2) new takes follow.
    reopened.choose(1)
    reopened.render(0.5, regenerate_at=0.1)
    state = wait_for(
        reopened.session,
        lambda s: not s["unfinished"] and sum(bool(t.get("parent")) for t in s["takes"]) == 3,
        timeout_s=300.0,
        what="two takes re-generated from take 1",
    )
    parent = next(t for t in state["takes"] if t["id"] == 1)
    regenerated = [t for t in state["takes"] if (t.get("parent") or {}).get("take") == 1]
    assert [t["name"] for t in regenerated] == ["Take 1 · from 2.0 s (1)", "Take 1 · from 2.0 s (2)"]
    kept_seconds = regenerated[0]["parent"]["derivation"]["RegeneratedFrom"]["seconds"]
    assert abs(kept_seconds - 2.0) < 0.01, kept_seconds
    original = read_wav(parent["file"])
    # Before the cut, less the decoder's reach at level 2 (84 codes of 128 samples at 44.1 kHz,
    # 0.25 s), the new takes are the parent; after it they are new music.
    clean = int((2.0 - 0.3) * SAMPLE_RATE)
    for take in regenerated:
        assert take["timeline_start"] == parent["timeline_start"] and take["level"] == 2
        samples = read_wav(take["file"])
        np.testing.assert_allclose(samples[..., :clean], original[..., :clean], atol=1e-4)
        assert np.abs(samples[..., -SAMPLE_RATE // 2 :] - original[..., -SAMPLE_RATE // 2 :]).max() > 1e-3

    # A project saved and opened again keeps every take and every link.
    again = Session(audio, state=reopened.raw_state())
    takes = {t["id"]: t for t in again.session()["takes"]}
    assert len(takes) == 6 and sorted(t["id"] for t in regenerated + [extended]) == sorted(
        i for i, t in takes.items() if t.get("parent")
    )
