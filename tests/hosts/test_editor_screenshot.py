"""The editor renders in each of its main states: the standalone build (dummy audio backend)
runs under Xvfb, the whole screen is captured to target/screenshots/editor-<state>.png, and the
picture must hold a drawn window with text, not a blank or single-colour surface, showing the
colours of that state (a red reason, a moving progress bar).

States, each started the honest way, with the standalone's own options that do what the
editor's fields and buttons do:
- no-model: nothing loaded yet; Continue disabled with its reason (amber).
- unusable-model: a folder without manifest.json; the reason in red.
- idle: the tiny model loaded, pickers filled, nothing running; the prompt file's waveform
  with the prompt marked.
- recording: the same without a prompt file: what the (dummy) host plays is recorded, drawn
  with the prompt's part marked and a bar ruler at the host's tempo.
- generating: a tiny model continuing examples/chord.wav (prompt source "audio file"), so
  the per-level progress bars fill and the takes' waveforms grow as they stream;
- takes: the same run once its first takes are written (the takes list, one chosen, each
  take's waveform).
Takes go to a temporary folder (ENCORE_TAKES_DIR), never to the user's music folder.

Skips only when Xvfb / ImageMagick or the standalone binary are missing (`.ci/run` installs
them; the fixture below builds the binary when cargo is available)."""

import os
import shutil
import subprocess
import time
from collections.abc import Callable

import numpy as np
import pytest

from encore_host import REPO

STANDALONE = REPO / "target" / "debug" / "encore-standalone"
SCREENSHOTS = REPO / "target" / "screenshots"
TINY_MODEL = REPO / "models" / "tiny-1b-lyrics"
FAST_TINY_MODEL = REPO / "models" / "tiny-5b"
PROMPT = REPO / "examples" / "chord.wav"
SCREEN = (1280, 900)
# Xvfb's root window is black; anything drawn differs from it.
BACKGROUND = np.array([0, 0, 0])
# The editor's colours (src/plugin/editor/style.rs): reasons in red or amber, level progress
# bars and the take chosen for the timeline in their own blues.
ERROR_RED = (235, 105, 90)
WARNING_AMBER = (230, 180, 90)
PROGRESS_BLUE = (40, 96, 150)
CHOSEN_BLUE = (110, 170, 240)
# Waveforms: finished audio, a level still streaming, the prompt's edge.
WAVE_GREEN = (150, 200, 150)
STREAMING_ORANGE = (250, 160, 70)
PROMPT_EDGE = (200, 140, 230)
WAVE_GROUND = (24, 28, 32)  # style::WAVE_BACKGROUND: the waveforms' and the timeline lanes' ground
RULER_ROWS = 24  # the bar ruler's ticks and numbers under a lane band


@pytest.fixture(scope="module")
def standalone():
    if shutil.which("cargo"):
        build = subprocess.run(
            ["cargo", "build", "--features", "standalone", "--bin", "encore-standalone"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        if build.returncode != 0:
            pytest.fail(f"building the standalone failed:\n{build.stderr[-4000:]}")
    if not STANDALONE.is_file():
        pytest.skip(f"{STANDALONE} not built (cargo build --features standalone)")
    return STANDALONE


@pytest.fixture(scope="module")
def display():
    missing = [tool for tool in ("Xvfb", "import", "convert") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (apt-get install xvfb xauth imagemagick)")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write_fd),
            "-screen",
            "0",
            f"{SCREEN[0]}x{SCREEN[1]}x24",
            "-nolisten",
            "tcp",
        ],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as ready:
        number = ready.readline().strip()
    if not number:
        server.kill()
        pytest.fail(f"Xvfb did not start: {server.communicate()[1][-2000:]!r}")
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


def capture(display: str, path) -> np.ndarray:
    """The whole screen as an (height, width, 3) uint8 array, also saved as PNG at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DISPLAY=display)
    subprocess.run(["import", "-window", "root", str(path)], env=env, check=True, timeout=30)
    raw = subprocess.run(
        ["convert", str(path), "-depth", "8", "rgb:-"], check=True, capture_output=True, timeout=30
    ).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(SCREEN[1], SCREEN[0], 3)


def drawn_area(image: np.ndarray) -> tuple[slice, slice]:
    """Bounding box of everything that is not Xvfb's background."""
    drawn = np.any(image != BACKGROUND, axis=2)
    rows, cols = np.nonzero(drawn.any(axis=1))[0], np.nonzero(drawn.any(axis=0))[0]
    assert rows.size and cols.size, "nothing was drawn: the screen is blank"
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def text_lines(window: np.ndarray) -> list[int]:
    """Heights of the bands of rows that look like lines of text: rows with many sharp
    light/dark transitions (glyph strokes), grouped where they touch."""
    luma = window.astype(np.int32) @ np.array([299, 587, 114]) // 1000
    edges = np.abs(np.diff(luma, axis=1)) > 60
    texty = np.concatenate([[False], edges.sum(axis=1) >= 12, [False]])
    starts = np.nonzero(texty[1:] & ~texty[:-1])[0]
    ends = np.nonzero(~texty[1:] & texty[:-1])[0]
    return [int(h) for h in ends - starts]


def pixels_of(image: np.ndarray, colour: tuple[int, int, int], tolerance: int = 6) -> int:
    """How many pixels are within `tolerance` of `colour` on every channel."""
    close = np.abs(image.astype(np.int32) - np.array(colour)) <= tolerance
    return int(close.all(axis=2).sum())


Reached = Callable[[np.ndarray, np.ndarray | None], bool]


def show_editor(
    display: str,
    standalone,
    args: list[str],
    takes_dir,
    stages: list[tuple[str, Reached, float]],
) -> list[np.ndarray]:
    """Runs the standalone with `args` and, for each (state, reached, timeout) in turn, waits
    until the screen shows that state (`reached`, given this capture and the one a second
    before), saves it as editor-<state>.png and checks it. Returns the editor window's pixels
    for each state."""
    env = dict(os.environ, DISPLAY=display, RUST_LOG="warn", ENCORE_TAKES_DIR=str(takes_dir))
    env.pop("ENCORE_MODEL_DIR", None)  # each state says which model it loads
    app = subprocess.Popen(
        [str(standalone), "--backend", "dummy", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    windows = []
    try:
        for state, reached, timeout in stages:
            image = wait_for_state(display, app, state, reached, timeout)
            windows.append(check_not_blank(image, state))
    finally:
        app.terminate()
        try:
            app.wait(timeout=10)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()
    return windows


def wait_for_state(display, app, state: str, reached: Reached, timeout: float) -> np.ndarray:
    path = SCREENSHOTS / f"editor-{state}.png"
    deadline = time.monotonic() + timeout
    image = previous = None
    while time.monotonic() < deadline:
        time.sleep(1.0)
        assert app.poll() is None, f"the standalone exited:\n{app.communicate()[0][-3000:]}"
        previous, image = image, capture(display, path)
        painted = len(np.unique(image.reshape(-1, 3), axis=0)) > 32
        if painted and reached(image, previous):
            # Let the frame settle and take the final picture, unless the state has passed
            # meanwhile (a short level's streaming ends): then the picture that showed it stays.
            time.sleep(0.5)
            settled_path = path.with_suffix(".settled.png")
            settled = capture(display, settled_path)
            if reached(settled, image):
                settled_path.replace(path)
                return settled
            settled_path.unlink()
            return image
    pytest.fail(f"the editor never showed the {state} state within {timeout:.0f} s: {path}")


def check_not_blank(image: np.ndarray, state: str) -> np.ndarray:
    rows, cols = drawn_area(image)
    window = image[rows, cols]
    height, width = window.shape[:2]
    assert width >= 600 and height >= 400, f"{state}: window too small: {width}x{height}"
    colours = len(np.unique(window.reshape(-1, 3), axis=0))
    assert colours >= 100, f"{state}: only {colours} distinct colours: blank or flat window"
    assert window.std() >= 12.0, f"{state}: pixel standard deviation {window.std():.1f}: flat"
    # Status, settings with a label per row, Continue, takes: many lines of text of text
    # height (a few pixels to a few dozen), not one big textured block.
    lines = [h for h in text_lines(window) if 4 <= h <= 40]
    assert len(lines) >= 15, f"{state}: only {len(lines)} lines of text: {text_lines(window)}"
    return window


def test_no_model(standalone, display, tmp_path):
    [window] = show_editor(
        display,
        standalone,
        [],
        tmp_path,
        [("no-model", lambda image, _: pixels_of(image, WARNING_AMBER) >= 20, 60.0)],
    )
    assert pixels_of(window, WARNING_AMBER) >= 20, "no amber 'load a model' reason"


def test_unusable_model(standalone, display, tmp_path):
    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()
    (not_a_model / "readme.txt").write_text("no manifest.json here")
    [window] = show_editor(
        display,
        standalone,
        ["--model", str(not_a_model)],
        tmp_path,
        [("unusable-model", lambda image, _: pixels_of(image, ERROR_RED) >= 20, 60.0)],
    )
    assert pixels_of(window, ERROR_RED) >= 20, "the model's reason is not shown in red"


def without_the_timeline(image: np.ndarray) -> np.ndarray:
    """The picture with the timeline's bands blanked: it follows the host's playhead (the
    standalone's transport always plays), so it moves while everything else is still. A band
    is a run of rows mostly in the lanes' ground, and the ruler under it."""
    ground = (np.abs(image.astype(np.int32) - np.array(WAVE_GROUND)) <= 2).all(axis=2).sum(axis=1)
    rows = np.flatnonzero(ground >= image.shape[1] // 4)
    out = image.copy()
    for row in rows:
        out[row : row + RULER_ROWS] = 0
    return out


def settled_without_reasons(image: np.ndarray, previous: np.ndarray | None) -> bool:
    """Nothing amber or red (no reason Continue is disabled, no error) and nothing moving but
    the timeline (e.g. the spinner of a model being checked): the model is ready and nothing
    runs."""
    return (
        previous is not None
        and np.array_equal(without_the_timeline(image), without_the_timeline(previous))
        and pixels_of(image, WARNING_AMBER) < 20
        and pixels_of(image, ERROR_RED) < 20
    )


def test_idle_with_the_tiny_model(standalone, display, tmp_path):
    # The prompt comes from a file, so no capture counter ticks and a ready editor is still.
    [window] = show_editor(
        display,
        standalone,
        ["--model", str(TINY_MODEL), "--prompt-file", str(PROMPT)],
        tmp_path,
        [("idle", settled_without_reasons, 60.0)],
    )
    assert pixels_of(window, WAVE_GREEN) >= 300, "the prompt file's waveform is not drawn"
    assert pixels_of(window, PROMPT_EDGE) >= 20, "the prompt's start is not marked"


def test_recording_with_the_tiny_model(standalone, display, tmp_path):
    # The dummy backend plays silence at its tempo: a flat recording under a bar ruler, the
    # last 12 s (the default prompt) marked once that much is recorded.
    [window] = show_editor(
        display,
        standalone,
        ["--model", str(TINY_MODEL)],
        tmp_path,
        [("recording", lambda image, _: pixels_of(image, PROMPT_EDGE) >= 20, 60.0)],
    )
    assert pixels_of(window, PROMPT_EDGE) >= 20, "the prompt's start is not marked"


def test_generating_then_takes(standalone, display, tmp_path):
    # tiny-5b is the quickest tiny model: its level-2 takes are written within a minute even
    # in a debug build, while levels 1 and 0 go on.
    generating, takes = show_editor(
        display,
        standalone,
        ["--model", str(FAST_TINY_MODEL), "--prompt-file", str(PROMPT), "--continue"],
        tmp_path,
        [
            # A progress bar with a visible fill: the model is really continuing the prompt.
            # ... and the takes' waveforms growing as they stream.
            (
                "generating",
                lambda image, _: pixels_of(image, PROGRESS_BLUE) >= 200
                and pixels_of(image, STREAMING_ORANGE) >= 20,
                120.0,
            ),
            # The take chosen for the timeline is drawn in its own blue.
            ("takes", lambda image, _: pixels_of(image, CHOSEN_BLUE) >= 20, 180.0),
        ],
    )
    assert pixels_of(generating, PROGRESS_BLUE) >= 200, "no progress bar is filling"
    assert pixels_of(generating, STREAMING_ORANGE) >= 20, "no take's waveform is streaming"
    assert pixels_of(takes, WAVE_GREEN) >= 600, "the takes' waveforms are not drawn"
    assert sorted(p.name for p in tmp_path.rglob("*.wav")), "no take was written"
