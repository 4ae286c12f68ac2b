"""Helpers for the DAW workflow tests: a DawDreamer session with Encore set up for the tiny model,
the `continue` and `upsample` parameters automated, and Encore's session (takes, unfinished generations) read
from the state the host saves.

Run as a script (`python daw_workflow.py start STATE_OUT TAKES_DIR`) it starts a generation,
saves the state once the first level is written and kills its own process, as a crashing DAW
would; `upsample` instead makes three previews, chooses take 1, triggers its upsample to level 0
and saves and dies while that runs."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import dawdreamer as daw
import numpy as np

from encore_host import REPO, read_state, require_bundle, wait_for, write_state

SAMPLE_RATE = 48_000
BLOCK = 480
BPM = 120.0
MODEL = REPO / "models" / "tiny-5b"
# Parameter order as the plugin declares it.
CONTINUE_INDEX = 0
UPSAMPLE_INDEX = 8
# The other follow-up triggers, appended after `upsample_to` (9).
EXTEND_INDEX = 10
REGENERATE_INDEX = 12
RETRY_INDEX = 14
# Normalised values of the enum parameters.
LEVEL = {"preview": 0, "level 1": 1, "level 0": 2}
REPLACE = 1


def unused_x_display() -> str:
    """A display name no X server answers. DawDreamer's `load_state` opens an X display
    (JUCE falls back to ":0.0" when DISPLAY is unset) and an X error there kills the process;
    with no server to reach, JUCE stays headless. Needed when an Xvfb runs on this machine."""
    number = 9_999
    while Path(f"/tmp/.X11-unix/X{number}").exists():
        number += 1
    return f":{number}"


def prompt_audio(seconds: float) -> np.ndarray:
    """A stereo chord, struck every half second: something for the model to continue."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    envelope = np.exp(-3.0 * (t % 0.5))
    notes = [220.0, 277.18, 329.63]
    chord = sum(np.sin(2 * np.pi * hz * t) / (i + 1) for i, hz in enumerate(notes))
    mono = (0.3 * envelope * chord).astype(np.float32)
    return np.stack([mono, 0.8 * mono])


class Session:
    """One RenderEngine with a playback source feeding Encore."""

    def __init__(self, audio: np.ndarray, state: bytes | None = None, block: int = BLOCK):
        self.block = block
        self.engine = daw.RenderEngine(SAMPLE_RATE, block)
        self.engine.set_bpm(BPM)
        self.encore = self.engine.make_plugin_processor("encore", require_bundle())
        self.audio = audio
        self.source = self.engine.make_playback_processor("source", audio)
        self.engine.load_graph([(self.source, []), (self.encore, ["source"])])
        self._dir = tempfile.mkdtemp(prefix="encore-daw-")
        if state is not None:
            self.load_raw_state(state)

    def raw_state(self) -> bytes:
        path = os.path.join(self._dir, "state.bin")
        self.encore.save_state(path)
        return Path(path).read_bytes()

    def state(self) -> dict:
        return read_state(self.raw_state())

    def load_raw_state(self, raw: bytes) -> None:
        path = os.path.join(self._dir, "state-in.bin")
        Path(path).write_bytes(raw)
        self.encore.load_state(path)

    def configure(
        self,
        takes_dir: Path,
        seconds: float,
        level: str,
        model: Path = MODEL,
        start_at: str = "NextBar",
        takes: int = 1,
    ) -> None:
        """The tiny model, takes in `takes_dir`, a `seconds`-long continuation of one take down
        to `level` (`takes` of them), of the last 2 s before the playhead, with a fixed seed, in
        Replace mode, starting at `start_at` ("Now", "NextBeat" or "NextBar"); Upsample goes to
        level 0."""
        raw = self.raw_state()
        state = read_state(raw)
        state["fields"]["settings"].update(
            model_dir=str(model),
            takes_dir=str(takes_dir),
            prompt={"LastSeconds": 2.0},
            new_seed_each_time=False,
            seed=5,
            start_at=start_at,
        )
        params = state["params"]
        params["seconds"] = {"f32": seconds}
        params["takes"] = {"i32": takes}
        params["level"] = {"i32": LEVEL[level]}
        params["playback"] = {"i32": REPLACE}
        params["upsample_to"] = {"i32": 1}
        self.load_raw_state(write_state(raw, state))

    def set_params(self, **values: dict) -> None:
        """Sets parameters through the project's state, e.g. `extend_by={"f32": 1.5}`."""
        raw = self.raw_state()
        state = read_state(raw)
        state["params"].update(values)
        self.load_raw_state(write_state(raw, state))

    def choose(self, take: int) -> None:
        """Makes `take` the one that plays on the timeline, through the project's state (the
        host has no other way to choose)."""
        raw = self.raw_state()
        state = read_state(raw)
        state["fields"]["session"]["chosen"] = take
        self.load_raw_state(write_state(raw, state))

    def render(
        self,
        seconds: float,
        continue_at: float | None = None,
        continue_at_sample: int | None = None,
        upsample_at: float | None = None,
        extend_at: float | None = None,
        regenerate_at: float | None = None,
        retry_at: float | None = None,
    ) -> np.ndarray:
        """Renders from timeline position 0; `continue_at` (seconds) or `continue_at_sample`:
        where the `continue` parameter's automation rises, `upsample_at`, `extend_at`,
        `regenerate_at`, `retry_at` (seconds): where those triggers' do; else they stay off."""
        frames = int(seconds * SAMPLE_RATE)
        automation = np.zeros(frames, dtype=np.float32)
        if continue_at is not None:
            continue_at_sample = int(continue_at * SAMPLE_RATE)
        if continue_at_sample is not None:
            automation[continue_at_sample:] = 1.0
        assert self.encore.set_automation(CONTINUE_INDEX, automation)
        triggers = {
            UPSAMPLE_INDEX: upsample_at,
            EXTEND_INDEX: extend_at,
            REGENERATE_INDEX: regenerate_at,
            RETRY_INDEX: retry_at,
        }
        for index, at in triggers.items():
            rising = np.zeros(frames, dtype=np.float32)
            if at is not None:
                rising[int(at * SAMPLE_RATE) :] = 1.0
            assert self.encore.set_automation(index, rising)
        self.engine.render(seconds)
        return self.engine.get_audio()

    def session(self) -> dict:
        return self.state()["fields"]["session"]

    def wait_for_takes(self, level: int, count: int = 1, timeout_s: float = 240.0) -> dict:
        """Waits until `count` takes are finished at `level` and nothing is left to resume."""

        def done(session: dict) -> bool:
            takes = session["takes"]
            return (
                not session["unfinished"]
                and len(takes) == count
                and all(t["level"] == level for t in takes)
            )

        what = f"{count} take(s) at level {level}"
        return wait_for(self.session, done, timeout_s=timeout_s, what=what)


def track_input(audio: np.ndarray, frames: int) -> np.ndarray:
    """What the source plays over `frames`: the audio, then silence."""
    out = np.zeros((audio.shape[0], frames), dtype=np.float32)
    n = min(frames, audio.shape[1])
    out[:, :n] = audio[:, :n]
    return out


def crashed_session(command: str, state_out: Path, takes_dir: Path) -> dict:
    """Runs `command` of this script ("start" or "upsample") in a host process that saves its
    project into `state_out` and dies; returns the saved session."""
    here = Path(__file__).resolve().parent
    done = subprocess.run(
        [sys.executable, str(here / "daw_workflow.py"), command, str(state_out), str(takes_dir)],
        env=dict(os.environ, PYTHONPATH=str(here)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return read_state(state_out.read_bytes())["fields"]["session"]


def start_and_crash(state_out: Path, takes_dir: Path) -> None:
    """Starts a full-quality generation, saves the state once its preview level is written and
    kills this process while the generation runs on."""
    audio = prompt_audio(2.0)
    session = Session(audio)
    session.configure(takes_dir, seconds=1.0, level="level 0")
    session.render(2.5, continue_at=2.0)
    wait_for(
        session.session,
        lambda s: s["takes"] and s["unfinished"],
        timeout_s=240.0,
        what="the preview level of an unfinished generation",
    )
    state_out.write_bytes(session.raw_state())
    sys.stdout.flush()
    os._exit(0)


UPSAMPLE_SECONDS = 3.0


def upsample_and_crash(state_out: Path, takes_dir: Path) -> None:
    """Three previews of UPSAMPLE_SECONDS, take 2 (the middle one) chosen and upsampled to level 0 by the
    `upsample` parameter; the state is saved while the upsample runs and the process dies."""
    audio = prompt_audio(2.0)
    session = Session(audio)
    session.configure(takes_dir, seconds=UPSAMPLE_SECONDS, level="preview", takes=3)
    session.render(2.5, continue_at=2.0)
    session.wait_for_takes(level=2, count=3)
    session.choose(2)
    session.render(0.5, upsample_at=0.1)
    wait_for(
        session.session,
        lambda s: s["unfinished"],
        timeout_s=60.0,
        what="the upsample under way",
    )
    state_out.write_bytes(session.raw_state())
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    command, state_out, takes_dir = sys.argv[1:4]
    commands = {"start": start_and_crash, "upsample": upsample_and_crash}
    assert command in commands, command
    commands[command](Path(state_out), Path(takes_dir))
