"""One engine per process, and a host that never waits for it, in DawDreamer on the tiny model:
two Encore instances share one loaded model (the second instance's generation opens nothing),
and while a model opens slowly and a generation runs, the host's activations (every render
prepares the plugin) and state loads return at once, and the generation goes on to its take.

Each test uses its own copy of the model folder, so what it opens is its own whatever other
tests in this process left in the engine's cache."""

import shutil
import time
from pathlib import Path

import pytest

from daw_workflow import MODEL, Session, prompt_audio, unused_x_display
from encore_host import wait_for

# Debug builds only: every model open takes this much longer (see src/engine/queue/models.rs).
SLOW_OPEN_ENV = "ENCORE_TEST_MODEL_OPEN_DELAY_MS"
SLOW_OPEN_S = 3.0
# Generous: these bounds test that nothing waits for the engine, not speed.
HOST_CALL_BOUND_S = 0.2


@pytest.fixture(scope="module", autouse=True)
def headless_juce():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISPLAY", unused_x_display())
        yield


def model_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(MODEL, folder)
    return folder


def diagnostics(session: Session) -> dict:
    return session.state()["fields"]["diagnostics"]


def test_two_instances_share_one_model(tmp_path):
    model = model_copy(tmp_path)
    audio = prompt_audio(3.0)
    first, second = Session(audio), Session(audio)
    first.configure(tmp_path / "first", seconds=1.0, level="preview", model=model)
    second.configure(tmp_path / "second", seconds=1.0, level="preview", model=model)

    first.render(3.0, continue_at=2.0)
    first.wait_for_takes(level=2)
    after_first = wait_for(
        lambda: diagnostics(first),
        lambda d: d["models_opened"] >= 1 and d["priors_opened"] >= 1,
        what="the engine's counts",
    )
    second.render(3.0, continue_at=2.0)
    second.wait_for_takes(level=2)
    # Both instances report the one engine's counts (it serves both, and any instance other
    # tests in this process left); the second generation opened neither the model nor its
    # prior again.
    counts = ("models_opened", "priors_opened", "models_released")
    expected = {key: after_first[key] for key in counts}
    for session in (first, second):
        seen = wait_for(
            lambda s=session: diagnostics(s),
            lambda d: {key: d[key] for key in counts} == expected,
            what="the shared engine's counts",
        )
        assert seen["engine_clients"] >= 2, seen
        assert seen["worker_starts"] == 1, seen


def test_the_host_never_waits_for_a_slow_model_or_a_running_generation(tmp_path, monkeypatch):
    monkeypatch.setenv(SLOW_OPEN_ENV, str(int(SLOW_OPEN_S * 1000)))
    model = model_copy(tmp_path)
    audio = prompt_audio(3.0)
    session = Session(audio)
    session.configure(tmp_path / "takes", seconds=1.0, level="level 0", model=model)
    session.render(2.5, continue_at=2.0)
    wait_for(session.session, lambda s: s["unfinished"], what="the generation to be under way")

    slowest = {"render (activate, process, deactivate)": 0.0, "state load": 0.0}
    started = time.monotonic()
    while time.monotonic() - started < SLOW_OPEN_S + 1.0:
        t = time.monotonic()
        session.render(0.05)
        slowest["render (activate, process, deactivate)"] = max(
            slowest["render (activate, process, deactivate)"], time.monotonic() - t
        )
        raw = session.raw_state()
        t = time.monotonic()
        session.load_raw_state(raw)
        slowest["state load"] = max(slowest["state load"], time.monotonic() - t)
        time.sleep(0.05)
    for what, seconds in slowest.items():
        assert seconds < HOST_CALL_BOUND_S, f"{what} took {seconds:.3f} s"
    assert session.session()["unfinished"], "the generation should still be under way"

    # The generation went on through all of that, to its full-quality take.
    state = session.wait_for_takes(level=0)
    assert [Path(t["file"]).name for t in state["takes"]] == ["Take 1 L0.wav"]
    assert diagnostics(session)["worker_starts"] == 1
