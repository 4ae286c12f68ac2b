"""The editor renders: the standalone build (dummy audio backend) runs under Xvfb, the whole
screen is captured to target/screenshots/editor-idle.png, and the picture must hold a drawn
window with text, not a blank or single-colour surface.

Skips only when Xvfb / ImageMagick or the standalone binary are missing (`.ci/run` installs
them; the fixture below builds the binary when cargo is available)."""

import os
import shutil
import subprocess
import time

import numpy as np
import pytest

from encore_host import REPO

STANDALONE = REPO / "target" / "debug" / "encore-standalone"
SCREENSHOT = REPO / "target" / "screenshots" / "editor-idle.png"
SCREEN = (1280, 900)
# Xvfb's root window is black; anything drawn differs from it.
BACKGROUND = np.array([0, 0, 0])


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


def test_editor_draws_a_window_with_text(standalone, display):
    env = dict(os.environ, DISPLAY=display, RUST_LOG="warn")
    app = subprocess.Popen(
        [str(standalone), "--backend", "dummy"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # Wait until the window has been mapped and painted (and keeps running).
        deadline = time.monotonic() + 30
        image = None
        while time.monotonic() < deadline:
            time.sleep(1.0)
            assert app.poll() is None, f"the standalone exited:\n{app.communicate()[0][-3000:]}"
            image = capture(display, SCREENSHOT)
            if len(np.unique(image.reshape(-1, 3), axis=0)) > 32:
                time.sleep(1.0)  # let the first frames settle, then take the final picture
                image = capture(display, SCREENSHOT)
                break
    finally:
        app.terminate()
        try:
            app.wait(timeout=10)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()

    rows, cols = drawn_area(image)
    window = image[rows, cols]
    height, width = window.shape[:2]
    assert width >= 300 and height >= 200, f"window too small: {width}x{height}"
    colours = len(np.unique(window.reshape(-1, 3), axis=0))
    assert colours >= 100, f"only {colours} distinct colours: blank or flat window"
    assert window.std() >= 12.0, f"pixel standard deviation {window.std():.1f}: flat window"
    # The idle editor shows a heading, the runtime status and a label per parameter: many lines
    # of text of text height (a few pixels to a few dozen), not one big textured block.
    lines = [h for h in text_lines(window) if 4 <= h <= 40]
    assert len(lines) >= 10, f"only {len(lines)} lines of text found: {text_lines(window)}"
