"""Dragging a take out of the editor onto windows Encore did not write: GTK 3 drop targets
(tests/hosts/gtk_drop_target.py, run by Debian's python3-gi) under Xvfb, the drag driven with
xdotool as a user's mouse would (XTEST: real button presses and motion).

One standalone editor makes takes with the tiny-5b model (prompt: examples/chord.wav); then:
- a drop on a window that takes `text/uri-list` hands it the take's file as a `file://` URI;
- a drop on a window that takes only a type Encore does not offer is refused: no drop, no data;
- Escape in the middle of a drag ends it: the target is left, nothing is dropped, even when the
  button then comes up over the target.
A screenshot of the drag in progress goes to target/screenshots/editor-drag.png.

Skips when Xvfb, xdotool or GTK's Python bindings are missing (`.ci/run` installs them)."""

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest

from test_editor_screenshot import (  # noqa: F401  (fixtures)
    FAST_TINY_MODEL,
    PROMPT,
    SCREENSHOTS,
    WAVE_GREEN,
    capture,
    check_not_blank,
    display,
    standalone,
)

GTK_TARGET = Path(__file__).with_name("gtk_drop_target.py")
SYSTEM_PYTHON = "/usr/bin/python3"
# The editor is 1000x800 at the screen's top left; the targets sit to its right.
ACCEPTING = {"x": 1020, "y": 60, "width": 240, "height": 200}
REFUSING = {"x": 1020, "y": 320, "width": 240, "height": 200}
# Take waveforms: drawn on this ground (src/plugin/editor/style.rs WAVE_BACKGROUND), each
# WAVE_HEIGHT (34) pixels tall, in the right-hand column.
WAVE_GROUND = (24, 28, 32)
TAKES_COLUMNS_X = (452, 985, 900, 700)
TAKES = 3


def centre(box):
    return box["x"] + box["width"] // 2, box["y"] + box["height"] // 2


class DropTarget:
    """A GTK drop target and the lines it prints, read on a thread."""

    def __init__(self, display, box, refuse):
        args = [SYSTEM_PYTHON, str(GTK_TARGET), "--title", "refusing" if refuse else "accepting"]
        args += [f"--{k}={v}" for k, v in box.items()]
        if refuse:
            args.append("--refuse")
        self.process = subprocess.Popen(
            args,
            env=dict(os.environ, DISPLAY=display),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, word, since=0, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[since:]:
                if line.split(" ", 1)[0] == word:
                    return line
            assert self.process.poll() is None, f"the GTK target exited: {self.lines}"
            time.sleep(0.05)
        pytest.fail(f"the GTK target never printed {word!r}; it printed {self.lines[since:]}")

    def words(self, since=0):
        return [line.split(" ", 1)[0] for line in self.lines[since:]]

    def close(self):
        self.process.terminate()
        self.process.wait(timeout=10)


def xdotool(display, *args):
    subprocess.run(["xdotool", *map(str, args)], env=dict(os.environ, DISPLAY=display), check=True)


@pytest.fixture(scope="module")
def gtk(display):
    if not shutil.which("xdotool"):
        pytest.skip("xdotool missing (apt-get install xdotool)")
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('Gtk', '3.0')"],
        capture_output=True,
    )
    if probe.returncode != 0:
        pytest.skip("GTK 3 for Python missing (apt-get install python3-gi gir1.2-gtk-3.0)")
    targets = DropTarget(display, ACCEPTING, False), DropTarget(display, REFUSING, True)
    for target in targets:
        target.wait_for("ready", timeout=30)
    yield targets
    for target in targets:
        target.close()


@pytest.fixture(scope="module")
def editor_with_takes(standalone, display, gtk, tmp_path_factory):
    """The standalone editor once every take's first level is written; yields the takes folder."""
    takes_dir = tmp_path_factory.mktemp("takes")
    env = dict(os.environ, DISPLAY=display, RUST_LOG="warn", ENCORE_TAKES_DIR=str(takes_dir))
    env.pop("ENCORE_MODEL_DIR", None)
    app = subprocess.Popen(
        [
            str(standalone),
            "--backend",
            "dummy",
            "--model",
            str(FAST_TINY_MODEL),
            "--prompt-file",
            str(PROMPT),
            "--continue",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while len(list(takes_dir.rglob("Take * L2.wav"))) < TAKES:
            assert app.poll() is None, f"the standalone exited:\n{app.communicate()[0][-3000:]}"
            assert time.monotonic() < deadline, "the takes were not written within 240 s"
            time.sleep(1.0)
        time.sleep(2.0)  # the list and the waveforms drawn
        yield app, takes_dir
    finally:
        app.terminate()
        try:
            app.wait(timeout=10)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()


def take_waveforms(display, path) -> list[int]:
    """The vertical centres of the take waveforms on screen, top first."""
    # Off the editor: a waveform under the pointer is drawn lighter.
    xdotool(display, "mousemove", 1270, 890)
    time.sleep(0.5)
    image = capture(display, path)
    # The generation goes on while the tests run: a level streaming over a take covers its
    # waveform from the left, so the columns are tried from the right end too.
    found = [[y for y in waveforms_in_column(image, x) if draws_audio(image, y)] for x in TAKES_COLUMNS_X]
    return max(found, key=len)


def draws_audio(image, centre: int) -> bool:
    """A take's waveform has its audio drawn on the ground (a near-silent take: a line); the
    timeline's lanes show the same ground between their bars, with no audio."""
    band = image[centre - 20 : centre + 21].astype(np.int32)
    return int((np.abs(band - np.array(WAVE_GREEN)) <= 6).all(axis=2).sum()) >= 100


def waveforms_in_column(image, x: int) -> list[int]:
    column = image[:, x].astype(np.int32)
    ground = np.all(np.abs(column - np.array(WAVE_GROUND)) <= 3, axis=1)
    edges = np.diff(np.concatenate([[0], ground.astype(np.int8), [0]]))
    runs = list(zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]))
    # The audio drawn over the ground splits it: runs a few pixels apart are one waveform.
    merged = []
    for start, end in runs:
        if merged and start - merged[-1][1] <= 12:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    # As tall as a take's waveform, less the audio at its edge (the prompt's is taller).
    return [int(s + e) // 2 for s, e in merged if 20 <= e - s <= 36]


def drag(display, start, end, escape_at_end=False, screenshot=None):
    """Presses on `start`, moves to `end` in steps, optionally presses Escape, releases."""
    xdotool(display, "mousemove", *start)
    time.sleep(0.3)
    xdotool(display, "mousedown", 1)
    time.sleep(0.2)
    for i in range(1, 13):
        x = start[0] + (end[0] - start[0]) * i // 12
        y = start[1] + (end[1] - start[1]) * i // 12
        xdotool(display, "mousemove", x, y)
        time.sleep(0.06)
    time.sleep(0.8)  # the target answers the last position
    if screenshot is not None:
        screenshot()
    if escape_at_end:
        xdotool(display, "key", "Escape")
        time.sleep(0.5)
        xdotool(display, "mousemove", end[0] + 5, end[1] + 5)
        time.sleep(0.3)
    xdotool(display, "mouseup", 1)
    time.sleep(1.0)


def test_a_drop_on_a_gtk_window_hands_it_the_takes_file(display, gtk, editor_with_takes):
    app, takes_dir = editor_with_takes
    accepting, _ = gtk
    waves = take_waveforms(display, SCREENSHOTS / "editor-drag-before.png")
    assert len(waves) >= TAKES, f"expected {TAKES} take waveforms, found them at {waves}"
    since = len(accepting.lines)
    shot = SCREENSHOTS / "editor-drag.png"

    def screenshot():
        check_not_blank(capture(display, shot), "drag")

    # The newest take is listed first: Take 3 (takes count from 1).
    drag(display, (600, waves[0]), centre(ACCEPTING), screenshot=screenshot)
    accepting.wait_for("motion", since)
    line = accepting.wait_for("uris", since)
    uris = line.split()[1:]
    assert len(uris) == 1, line
    uri = urlparse(uris[0])
    assert uri.scheme == "file" and uri.netloc == "", uris[0]
    dropped = Path(unquote(uri.path))
    assert dropped.is_file(), f"{dropped} does not exist"
    assert dropped.parent.parent == takes_dir, dropped
    assert dropped.name.startswith(f"Take {TAKES} L"), dropped.name
    assert app.poll() is None


def test_a_window_that_refuses_gets_no_drop(display, gtk, editor_with_takes):
    app, _ = editor_with_takes
    accepting, refusing = gtk
    waves = take_waveforms(display, SCREENSHOTS / "editor-drag-before.png")
    since_a, since_r = len(accepting.lines), len(refusing.lines)
    drag(display, (600, waves[0]), centre(REFUSING))
    refusing.wait_for("motion", since_r)
    refusing.wait_for("leave", since_r)
    time.sleep(1.0)
    assert "drop" not in refusing.words(since_r), refusing.lines[since_r:]
    assert not {"uris", "text"} & set(refusing.words(since_r)), refusing.lines[since_r:]
    assert accepting.words(since_a) == [], "the other window was never under the pointer"
    assert app.poll() is None


def test_escape_mid_drag_cancels_it(display, gtk, editor_with_takes):
    app, _ = editor_with_takes
    accepting, _ = gtk
    waves = take_waveforms(display, SCREENSHOTS / "editor-drag-before.png")
    since = len(accepting.lines)
    drag(display, (600, waves[-1]), centre(ACCEPTING), escape_at_end=True)
    accepting.wait_for("motion", since)
    accepting.wait_for("leave", since)
    time.sleep(1.0)
    words = accepting.words(since)
    assert "drop" not in words and "uris" not in words, accepting.lines[since:]
    assert app.poll() is None
    # The editor still drags after a cancelled drag.
    since = len(accepting.lines)
    drag(display, (600, waves[-1]), centre(ACCEPTING))
    assert accepting.wait_for("uris", since).startswith("uris file://")
