"""Where a take starts, in DawDreamer: on the sample of the `continue` automation ("Now"),
whatever the block size, and on the bar line after it ("NextBar", the default) under a tempo
change.

DawDreamer applies parameter automation at block starts (it sets each automated parameter
before every block; it sends no sample offsets), so the automation sample here is a block start
for every block size tested: 151 515 = 4095 * 37 = 333 * 455 = 7 * 21 645. Changes at a
sample offset inside a block are tested with the CLAP harness (tests/clap_host.rs), which sends
them there."""

import math

import numpy as np
import pytest

from daw_workflow import SAMPLE_RATE, Session, prompt_audio, unused_x_display
from encore_host import wait_for

BLOCKS = [1, 7, 333, 4095]
COMMON_BLOCK_START = 151_515


@pytest.fixture(scope="module", autouse=True)
def headless_juce():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISPLAY", unused_x_display())
        yield


def requested_start(session: Session) -> int:
    """Where the generation the Continue started puts its take (it is on the session as soon as
    the request is made; the take itself follows)."""
    state = wait_for(
        session.session,
        lambda s: s["unfinished"] or s["takes"],
        # Generous: the request waits in the engine's queue behind other instances' jobs, and
        # a loaded CI machine opens the model slowly; this tests where, not how fast.
        timeout_s=120.0,
        what="the Continue to start a generation",
    )
    starts = [u["timeline_start"] for u in state["unfinished"]]
    starts += [t["timeline_start"] for t in state["takes"]]
    assert len(set(starts)) == 1, starts
    return starts[0]


@pytest.mark.parametrize("block", BLOCKS)
def test_now_starts_the_take_on_the_automation_sample(tmp_path, block):
    audio = prompt_audio(3.5)
    session = Session(audio, block=block)
    session.configure(tmp_path, seconds=1.0, level="preview", start_at="Now")
    # 3.16 s: 151 515 is not on a beat (120 bpm: every 24 000 samples).
    session.render(3.5, continue_at_sample=COMMON_BLOCK_START)
    assert requested_start(session) == COMMON_BLOCK_START
    session.wait_for_takes(level=2)
    assert requested_start(session) == COMMON_BLOCK_START


def dawdreamer_bar_line(bpm: np.ndarray, ppqn: int, block: int, line_beats: float) -> int:
    """The first sample at or after `line_beats` on DawDreamer's timeline: it moves the beat
    position once per block at the tempo found at the block's start (`RenderEngine::render`)."""
    step_minutes = block / (SAMPLE_RATE * 60.0)
    ppq, start = 0.0, 0
    while True:
        tempo = float(bpm[min(len(bpm) - 1, int(ppqn * ppq))])
        after = ppq + step_minutes * tempo
        if after > line_beats:
            samples_per_beat = 60.0 * SAMPLE_RATE / tempo
            return start + math.ceil((line_beats - ppq) * samples_per_beat - 1e-3)
        ppq, start = after, start + block


@pytest.mark.parametrize("block", BLOCKS)
def test_next_bar_starts_the_take_on_the_bar_line_under_a_tempo_change(tmp_path, block):
    # 120 bpm for three beats, then 80 bpm: the second bar starts 1.5 s + 0.75 s in.
    ppqn = 960
    bpm = np.full(8 * ppqn, 80.0, dtype=np.float32)
    bpm[: 3 * ppqn] = 120.0
    audio = prompt_audio(3.0)
    session = Session(audio, block=block)
    assert session.engine.set_bpm(bpm, ppqn)
    session.configure(tmp_path, seconds=1.0, level="preview", start_at="NextBar")
    # Continue in the middle of the first bar (beat 1.6).
    session.render(3.0, continue_at=0.8)
    expected = dawdreamer_bar_line(bpm, ppqn, block, 4.0)
    # Within a block of the continuous-time bar line (2.25 s).
    assert abs(expected - int(2.25 * SAMPLE_RATE)) <= block
    assert requested_start(session) == expected
    session.wait_for_takes(level=2)


def test_a_30_s_render_in_one_call_loses_no_frame_and_starts_on_the_bar(tmp_path):
    """DawDreamer renders 30 s in one call in a few hundred milliseconds, as a DAW's bounce
    does, and does not say it renders offline: capture must keep up anyway (the audio thread
    may wait for the worker when there is no deadline). The Continue at 25.3 s waits for the
    next bar line (120 bpm, 4/4: every 2 s), 26 s, and must find it in the captured audio."""
    audio = prompt_audio(30.0)
    session = Session(audio)
    session.configure(tmp_path, seconds=1.0, level="preview", start_at="NextBar")
    session.render(30.0, continue_at=25.3)
    assert requested_start(session) == 26 * SAMPLE_RATE
    diagnostics = wait_for(
        lambda: session.state()["fields"]["diagnostics"],
        lambda d: d["received_frames"] >= d["captured_frames"],
        what="the worker to drain the capture ring",
    )
    assert diagnostics["dropped_frames"] == 0, diagnostics
    assert diagnostics["captured_frames"] == 30 * SAMPLE_RATE, diagnostics
    session.wait_for_takes(level=2)
