"""Encore.vst3 in pedalboard (JUCE's VST3 hosting): idle pass-through, parameters, state, and
loading again and again. The debug bundle aborts the process on any allocation in `process()`,
so every test that processes audio is also a real-time-safety test."""

import gc

import numpy as np
import pedalboard
import pytest

from encore_host import assert_bit_exact, make_signal, read_state, require_bundle, write_state

SAMPLE_RATES = [44_100, 48_000, 96_000]
# Odd sizes and sizes that do not divide the signal length on purpose.
BUFFER_SIZES = [1, 32, 333, 512, 1023, 4096]


def deliver_parameter_changes(plugin) -> None:
    """VST3 hosts hand parameter changes to the processor with the next process call, as a DAW
    does; the plugin's state (the processor's side) reflects them only after that."""
    plugin.process(np.zeros((2, 64), dtype=np.float32), 48_000, buffer_size=64, reset=False)


@pytest.fixture(scope="module")
def plugin():
    return pedalboard.load_plugin(require_bundle())


def test_loads_as_encore_with_its_parameters(plugin):
    assert plugin.name == "Encore"
    assert plugin.is_effect and not plugin.is_instrument
    assert list(plugin.parameters) == [
        "continue",
        "length_s",
        "takes",
        "temperature",
        "top_k",
        "top_p",
        "target_level",
        "playback",
        "upsample_chosen_take",
        "upsample_to",
        "extend_chosen_take",
        "extend_by_s",
        "re_generate_chosen_take",
        "re_generate_from_s",
        "retry_chosen_take",
        "bypass",
    ]


@pytest.mark.parametrize("sample_rate", SAMPLE_RATES)
@pytest.mark.parametrize("buffer_size", BUFFER_SIZES)
@pytest.mark.parametrize("channels", [2, 1], ids=["stereo", "mono"])
def test_idle_pass_through_is_bit_exact(plugin, channels, sample_rate, buffer_size):
    # Block size 1 is a process call per frame: keep that signal short.
    frames = 3_000 if buffer_size == 1 else 3 * 4096 + 77
    audio = make_signal(channels, frames, seed=sample_rate + buffer_size)
    out = plugin.process(audio, sample_rate, buffer_size=buffer_size)
    assert_bit_exact(audio, out)


def test_pass_through_survives_host_resets_between_calls(plugin):
    audio = make_signal(2, 10_000, seed=3)
    for reset in (True, False, False, True):
        out = plugin.process(audio, 48_000, buffer_size=480, reset=reset)
        assert_bit_exact(audio, out)


@pytest.mark.parametrize(
    ("name", "value"),
    [("takes", 7), ("temperature", 1.23), ("length_s", 42.5), ("top_k", 512), ("top_p", 0.9)],
)
def test_parameters_set_by_name_read_back(name, value):
    plugin = pedalboard.load_plugin(require_bundle())
    setattr(plugin, name, value)
    assert getattr(plugin, name) == pytest.approx(value, abs=1e-6)
    deliver_parameter_changes(plugin)
    # The plugin's own state agrees with what the host shows.
    params = read_state(plugin.raw_state)["params"]
    state_id = {"length_s": "seconds"}.get(name, name)
    (stored,) = params[state_id].values()
    assert stored == pytest.approx(value, abs=1e-6)


def test_enum_and_bool_parameters_set_by_value():
    plugin = pedalboard.load_plugin(require_bundle())
    plugin.playback = "Replace"
    plugin.target_level = "Preview (level 2)"
    deliver_parameter_changes(plugin)
    assert plugin.playback == "Replace"
    assert plugin.target_level == "Preview (level 2)"
    params = read_state(plugin.raw_state)["params"]
    assert params["playback"] == {"i32": 1}
    assert params["level"] == {"i32": 0}


def test_state_round_trips_parameters_and_settings():
    source = pedalboard.load_plugin(require_bundle())
    source.takes = 5
    source.temperature = 1.1
    deliver_parameter_changes(source)
    state = read_state(source.raw_state)
    assert set(state["fields"]) >= {"settings", "diagnostics", "session"}
    settings = state["fields"]["settings"]
    assert settings["artist"] == "" and settings["seed"] == 0
    settings.update(artist="Test Artist", genres=["jazz"], lyrics="la la\nla", seed=1234)
    edited = write_state(source.raw_state, state)

    target = pedalboard.load_plugin(require_bundle())
    target.raw_state = edited
    assert target.takes == 5
    assert target.temperature == pytest.approx(1.1, abs=1e-6)
    restored = read_state(target.raw_state)
    assert restored["params"]["takes"] == {"i32": 5}
    for key, value in settings.items():
        assert restored["fields"]["settings"][key] == value, key
    # The restored instance still passes audio through untouched.
    audio = make_signal(2, 5000, seed=9)
    assert_bit_exact(audio, target.process(audio, 44_100, buffer_size=256))


def test_the_bypass_parameter_passes_through_bit_exact_and_round_trips():
    plugin = pedalboard.load_plugin(require_bundle())
    assert not plugin.bypass
    plugin.bypass = True
    deliver_parameter_changes(plugin)
    assert read_state(plugin.raw_state)["params"]["bypass"] == {"bool": True}
    audio = make_signal(2, 10_000, seed=12)
    for buffer_size in (1, 333, 4096):
        assert_bit_exact(audio, plugin.process(audio, 48_000, buffer_size=buffer_size))
    # Switched off and on between renders: still the input (the plugin is idle), at most a
    # rounding step inside a 5 ms crossfade.
    for bypass in (False, True, False):
        plugin.bypass = bypass
        out = plugin.process(audio, 48_000, buffer_size=480, reset=False)
        assert np.allclose(out, audio, rtol=1e-6, atol=1e-7)
    restored = pedalboard.load_plugin(require_bundle())
    plugin.bypass = True
    deliver_parameter_changes(plugin)
    restored.raw_state = plugin.raw_state
    assert restored.bypass
    assert_bit_exact(audio, restored.process(audio, 44_100, buffer_size=256))


def test_diagnostics_are_in_the_state_and_count_this_instance_only(plugin):
    diagnostics = read_state(plugin.raw_state)["fields"]["diagnostics"]
    for key in [
        "captured_frames",
        "received_frames",
        "dropped_frames",
        "process_calls",
        "host_playing",
        "host_tempo_bpm",
        "host_position_samples",
        "worker_starts",
        "runtime",
    ]:
        assert key in diagnostics, f"{key} missing from {diagnostics}"
    # pedalboard has no playing transport: nothing is captured or dropped.
    assert diagnostics["captured_frames"] == 0
    assert diagnostics["dropped_frames"] == 0
    assert diagnostics["host_playing"] is False
    assert diagnostics["worker_starts"] >= 1

    # Restoring a state must not rewind or overwrite the counters.
    state = read_state(plugin.raw_state)
    state["fields"]["diagnostics"] = dict(state["fields"]["diagnostics"], process_calls=0)
    before = read_state(plugin.raw_state)["fields"]["diagnostics"]["process_calls"]
    plugin.raw_state = write_state(plugin.raw_state, state)
    after = read_state(plugin.raw_state)["fields"]["diagnostics"]["process_calls"]
    assert after >= before > 0


def test_repeated_load_process_unload():
    audio = make_signal(2, 4096, seed=11)
    for round_ in range(15):
        plugin = pedalboard.load_plugin(require_bundle())
        rate = SAMPLE_RATES[round_ % 3]
        out = plugin.process(audio, rate, buffer_size=[64, 512, 1000][round_ % 3])
        assert_bit_exact(audio, out)
        del plugin
        gc.collect()
