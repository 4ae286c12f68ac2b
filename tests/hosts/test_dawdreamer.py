"""Encore.vst3 in DawDreamer, a JUCE-based render engine with a playing transport: the plugin
must see the transport (playing, tempo, advancing position) and capture every rendered frame,
while leaving the track untouched."""

import os

import dawdreamer as daw
import numpy as np
import pytest

from encore_host import assert_bit_exact, make_signal, read_state, require_bundle, wait_for

SAMPLE_RATE = 48_000
# DawDreamer renders whole blocks; 480 divides the render length, so frames rendered is exact.
BLOCK = 480
SECONDS = 2
BPM = 133.0


def saved_state(processor, tmp_path) -> dict:
    path = os.path.join(tmp_path, "encore-state.bin")
    processor.save_state(path)
    with open(path, "rb") as f:
        return read_state(f.read())


@pytest.fixture
def rendered(tmp_path):
    engine = daw.RenderEngine(SAMPLE_RATE, BLOCK)
    engine.set_bpm(BPM)
    encore = engine.make_plugin_processor("encore", require_bundle())
    assert encore.get_num_input_channels() == 2
    assert encore.get_num_output_channels() == 2
    audio = make_signal(2, SAMPLE_RATE * SECONDS, seed=5)
    source = engine.make_playback_processor("source", audio)
    engine.load_graph([(source, []), (encore, ["source"])])
    before = saved_state(encore, tmp_path)["fields"]["diagnostics"]
    engine.render(SECONDS)
    return engine, encore, audio, before, tmp_path


def test_render_passes_the_track_through_bit_exact(rendered):
    engine, _, audio, _, _ = rendered
    assert_bit_exact(audio, engine.get_audio())


def test_plugin_captures_every_rendered_frame_with_the_transport(rendered):
    engine, encore, _, before, tmp_path = rendered
    frames = engine.get_audio().shape[1]
    assert frames == SAMPLE_RATE * SECONDS
    assert before["captured_frames"] == 0, "captured before the transport played"

    # The worker drains the capture ring asynchronously: wait until it has caught up.
    diagnostics = wait_for(
        lambda: saved_state(encore, tmp_path)["fields"]["diagnostics"],
        lambda d: d["received_frames"] >= d["captured_frames"],
        what="the worker to drain the capture ring",
    )
    assert diagnostics["captured_frames"] == frames, diagnostics
    assert diagnostics["received_frames"] == frames, diagnostics
    assert diagnostics["dropped_frames"] == 0, diagnostics
    # The plugin saw the transport playing in every rendered block (DawDreamer sends one more,
    # stopped, block after the render, so `host_playing` itself reads false by now).
    assert diagnostics["playing_blocks"] == frames // BLOCK, diagnostics
    assert diagnostics["host_tempo_bpm"] == BPM, diagnostics
    # The position advanced through the whole render: the last block DawDreamer sends (after
    # the transport stops) sits at the end of the rendered timeline.
    assert diagnostics["host_position_samples"] == frames, diagnostics
    assert diagnostics["process_calls"] - before["process_calls"] >= frames // BLOCK


def test_a_second_render_restarts_the_timeline_and_keeps_counting(rendered):
    engine, encore, _, _, tmp_path = rendered
    first = engine.get_audio().shape[1]
    engine.render(1)
    diagnostics = wait_for(
        lambda: saved_state(encore, tmp_path)["fields"]["diagnostics"],
        lambda d: d["received_frames"] >= d["captured_frames"],
        what="the worker to drain the capture ring",
    )
    assert diagnostics["captured_frames"] == first + SAMPLE_RATE, diagnostics
    assert diagnostics["received_frames"] == first + SAMPLE_RATE, diagnostics
    assert diagnostics["host_position_samples"] == SAMPLE_RATE, diagnostics
    assert diagnostics["dropped_frames"] == 0, diagnostics


def test_mono_bus_passes_through_and_captures(tmp_path):
    rate, block = 44_100, 441  # 100 whole blocks a second
    engine = daw.RenderEngine(rate, block)
    engine.set_bpm(90.0)
    encore = engine.make_plugin_processor("encore", require_bundle())
    encore.set_bus(1, 1)
    assert (encore.get_num_input_channels(), encore.get_num_output_channels()) == (1, 1)
    audio = make_signal(1, rate, seed=6)
    engine.load_graph([(engine.make_playback_processor("source", audio), []), (encore, ["source"])])
    engine.render(1)
    assert_bit_exact(audio, engine.get_audio())
    diagnostics = wait_for(
        lambda: saved_state(encore, tmp_path)["fields"]["diagnostics"],
        lambda d: d["received_frames"] >= d["captured_frames"],
        what="the worker to drain the capture ring",
    )
    assert diagnostics["captured_frames"] == rate, diagnostics
    assert diagnostics["received_frames"] == rate, diagnostics
    assert diagnostics["host_tempo_bpm"] == 90.0, diagnostics
