"""The DAW workflow end to end in DawDreamer, on the tiny model (CPU): play a clip, trigger
Continue by automating the `continue` parameter, get the take as a WAV, hear it on the track at
the right timeline position (Replace mode) with the track untouched elsewhere, keep it across a
saved and restored project, and finish a generation the host was killed in the middle of.

The debug bundle aborts on any allocation in `process()`, so these renders also check that
streaming and playing takes is real-time safe."""

from pathlib import Path

import numpy as np
import pytest

from daw_workflow import (
    SAMPLE_RATE,
    Session,
    crashed_session,
    prompt_audio,
    track_input,
    unused_x_display,
)
from encore_host import assert_bit_exact

CONTINUE_AT = 2.0
# The fades at a take's region edges in Replace mode (5 ms).
EDGE_FADE_FRAMES = round(0.005 * SAMPLE_RATE)


def read_wav(path: str) -> np.ndarray:
    """A mono 32-bit float WAV (what Encore writes; the `wave` module refuses IEEE float)."""
    data = Path(path).read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", path
    pos, rate = 12, None
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = data[pos + 8 : pos + 8 + size]
        if chunk == b"fmt ":
            spans = [(0, 2), (2, 4), (4, 8), (14, 16)]
            fields = [int.from_bytes(body[a:b], "little") for a, b in spans]
            fmt, channels, rate, bits = fields
            if fmt == 0xFFFE:  # WAVE_FORMAT_EXTENSIBLE: the subformat's first two bytes say
                fmt = int.from_bytes(body[24:26], "little")
            assert (fmt, channels, bits) == (3, 1, 32), fields
        elif chunk == b"data":
            assert rate == SAMPLE_RATE, rate
            return np.frombuffer(body, dtype="<f4").astype(np.float32)
        pos += 8 + size + (size & 1)
    raise AssertionError(f"no data chunk in {path}")


def assert_take_on_the_track(rendered: np.ndarray, audio: np.ndarray, take: dict) -> None:
    """Over the take's region the output is the take's WAV on both channels, faded in and out
    against the track over EDGE_FADE_FRAMES at its edges (equal power); elsewhere it is the
    track, bit for bit."""
    samples = read_wav(take["file"])
    start, frames = take["timeline_start"], take["frames"]
    assert len(samples) == frames, (len(samples), frames)
    assert rendered.shape[1] >= start + frames, "the render must cover the take"
    track = track_input(audio, rendered.shape[1])
    expected = track.copy()
    expected[:, start : start + frames] = samples
    edge = min(EDGE_FADE_FRAMES, frames // 2)
    angle = np.pi / 2 * (np.arange(edge) + 0.5) / edge
    rising, falling = np.sin(angle), np.cos(angle)
    fades = [
        (slice(start, start + edge), rising, falling),
        (slice(start + frames - edge, start + frames), rising[::-1], falling[::-1]),
    ]
    for span, take_gain, track_gain in fades:
        mixed = samples[span.start - start : span.stop - start] * take_gain + track[:, span] * track_gain
        np.testing.assert_allclose(rendered[:, span], mixed, atol=1e-5)
        expected[:, span] = rendered[:, span]
    assert_bit_exact(expected, rendered)


@pytest.fixture(scope="module", autouse=True)
def headless_juce():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISPLAY", unused_x_display())
        yield


@pytest.fixture(scope="module")
def generated(tmp_path_factory, headless_juce):
    """One generation triggered by automation; shared by the tests that look at its take."""
    takes_dir = tmp_path_factory.mktemp("takes")
    audio = prompt_audio(3.0)
    session = Session(audio)
    session.configure(takes_dir, seconds=1.0, level="preview")
    first = session.render(3.0, continue_at=CONTINUE_AT)
    # Up to the playhead of the Continue the track passed untouched (after it, Replace mode may
    # already silence the region of the take being generated).
    trigger = int(CONTINUE_AT * SAMPLE_RATE)
    assert_bit_exact(track_input(audio, first.shape[1])[:, :trigger], first[:, :trigger])
    state = session.wait_for_takes(level=2)
    return session, audio, state["takes"][0], takes_dir


def test_the_automated_continue_makes_a_take_where_the_prompt_ends(generated):
    session, _, take, takes_dir = generated
    # DawDreamer applies automation at block starts; 2.0 s is one, and a bar line at 120 bpm
    # (Start at: next bar, the default).
    assert take["timeline_start"] == int(CONTINUE_AT * SAMPLE_RATE), take
    assert take["sample_rate"] == SAMPLE_RATE
    assert take["settings"]["seed"] == 5 and take["settings"]["target_level"] == 2
    file = Path(take["file"])
    assert file.parent == takes_dir and file.name == "Take 1 L2.wav", file
    # 1 s at the model's rate, rounded up to whole top-level hops, at 48 kHz.
    assert 48_000 <= take["frames"] < 48_200, take
    assert np.abs(read_wav(take["file"])).max() > 1e-3, "the take is silent"
    state = session.session()
    assert state["chosen"] == take["id"]
    assert state["unfinished"] == []
    # A finished generation leaves nothing to resume; its codes stay as its take's source
    # (what the take's follow-ups start from).
    checkpoints = takes_dir / "checkpoints"
    assert [p for p in checkpoints.iterdir() if p.is_file()] == []
    assert Path(take["source"]["checkpoint"]).parent == checkpoints / "sources"
    assert Path(take["source"]["checkpoint"]).is_file()
    diagnostics = session.state()["fields"]["diagnostics"]
    assert diagnostics["dropped_frames"] == 0, diagnostics
    # The plugin adds no latency, so the host shifts nothing: the take lines up as rendered.
    assert session.encore.get_latency_samples() == 0


def test_the_take_plays_on_the_track_over_its_region(generated):
    session, audio, take, _ = generated
    rendered = session.render(4.0)
    assert_take_on_the_track(rendered, audio, take)


def test_a_restored_project_brings_the_take_back(generated):
    session, audio, take, _ = generated
    raw = session.raw_state()
    restored = Session(audio, state=raw)
    saved = restored.session()
    assert saved["takes"] == session.session()["takes"]
    assert saved["chosen"] == take["id"]
    rendered = restored.render(4.0)
    assert_take_on_the_track(rendered, audio, take)


def test_a_generation_killed_with_the_host_resumes_when_the_project_is_reopened(tmp_path):
    state_file = tmp_path / "crashed-project.bin"
    takes_dir = tmp_path / "takes"
    crashed = crashed_session("start", state_file, takes_dir)
    assert len(crashed["unfinished"]) == 1, crashed
    assert [t["level"] for t in crashed["takes"]] == [2], crashed
    assert Path(crashed["unfinished"][0]["checkpoint"]).is_file()

    audio = prompt_audio(2.0)
    reopened = Session(audio, state=state_file.read_bytes())
    # The host activates the plugin to render; the worker resumes the generation.
    reopened.render(0.5)
    state = reopened.wait_for_takes(level=0)
    take = state["takes"][0]
    assert take["id"] == crashed["takes"][0]["id"]
    assert take["timeline_start"] == crashed["takes"][0]["timeline_start"]
    assert Path(take["file"]).name == "Take 1 L0.wav"
    assert (takes_dir / "Take 1 L2.wav").is_file()
    rendered = reopened.render(3.5)
    assert_take_on_the_track(rendered, audio, take)
