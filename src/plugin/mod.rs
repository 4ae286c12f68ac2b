//! The real-time plugin layer: nice-plug's `Plugin`, its parameters and editor, the audio
//! thread's side of capture and playback, and the worker that runs generations.
//!
//! Real-time contract of `process()`: no allocation, no lock, no blocking call, no I/O. It only
//! touches rings (wait-free), atomics and take buffers the worker handed over. Debug builds abort
//! on any allocation there (`assert_process_allocs`). The plugin adds no latency (reported as 0):
//! takes play at their timeline position, the input passes through untouched elsewhere.

mod bypass;
mod capture;
mod cost;
mod denormals;
mod diagnostics;
mod editor;
mod engine_host;
#[cfg(test)]
mod follow_up_pipeline_tests;
mod jobs;
mod model;
mod params;
#[cfg(test)]
mod pipeline_tests;
mod playback;
pub mod prompt_file;
mod recordings;
mod render_clock;
mod request;
mod session;
mod settings;
mod start_line;
mod stream_resampler;
mod takes;
mod timeline;
mod triggers;
pub mod waveform;
mod worker;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_channel::Sender;
use nice_plug::prelude::*;

use bypass::{Bypass, BypassBlock};
use capture::{CaptureProducer, TimeSignature, TransportSnapshot, capture_rings};
pub use diagnostics::{Diagnostics, DiagnosticsSnapshot};
pub use editor::{StartupRequest, request_on_startup};
pub use model::MODEL_DIR_ENV;
pub use params::{EncoreParams, PlaybackMode, TargetLevel};
use playback::{PlaybackConsumer, playback_ring};
use render_clock::RenderClock;
pub use session::{SessionState, Shared, Take};
pub use settings::{LengthUnit, PromptSource, Settings, StartAt};
pub use takes::TAKES_DIR_ENV;
use timeline::{TimelinePlayer, timeline};
use triggers::{Trigger, TriggerCounts, TriggerWatch};
use worker::{AudioLinks, ReadyTake, WorkerCommand, WorkerHandle, WorkerLinks};

/// How long a render without a deadline (offline, or faster than real time: `RenderClock`)
/// waits for the worker to load a just-restored project's chosen take (it reads one WAV).
/// Nothing on the host's main thread waits for it, nor a real-time audio thread.
const RESTORED_TAKE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

pub struct Encore {
    params: Arc<EncoreParams>,
    /// Commands from the editor to the worker.
    commands: Sender<WorkerCommand>,
    /// The audio thread's ends of the rings; `None` until the first activate.
    audio: Option<AudioThreadSide>,
    /// Lives as long as the instance, whatever the host does with activation: generations
    /// never wait for or stop at activate, deactivate, reset or a state load.
    worker: WorkerHandle,
    sample_rate: f32,
    /// The trigger presses the audio thread has seen (across activations).
    trigger_watch: TriggerWatch,
}

struct AudioThreadSide {
    capture: CaptureProducer,
    playback: PlaybackConsumer,
    timeline: TimelinePlayer,
    /// The host's bypass: pass-through, crossfaded at a switch.
    bypass: Bypass,
    /// Whether this activation's blocks have a deadline.
    clock: RenderClock,
    /// A state load the worker had not handled at activate: that load's number, and the slot
    /// where the worker puts the restored take (a block without a deadline waits for it).
    restored_take: Option<(u64, Arc<ReadyTake>)>,
    /// Continue requests not delivered yet (the capture ring was full).
    pending_requests: u32,
}

impl Default for Encore {
    fn default() -> Self {
        let params = Arc::new(EncoreParams::default());
        let (commands, commands_rx) = crossbeam_channel::unbounded();
        // Started with the instance so that a restored project's take is loaded (on the
        // worker) before the host's first block, and the editor works before activation.
        let worker = WorkerHandle::spawn(WorkerLinks {
            commands: commands_rx,
            params: params.clone(),
        });
        Self {
            params,
            commands,
            audio: None,
            worker,
            sample_rate: 44_100.0,
            trigger_watch: TriggerWatch::default(),
        }
    }
}

impl Plugin for Encore {
    const NAME: &'static str = "Encore";
    const VENDOR: &'static str = "Encore";
    const URL: &'static str = env!("CARGO_PKG_REPOSITORY");
    const EMAIL: &'static str = "";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
    ];

    // A Continue automated inside a block starts at its sample: the wrapper splits the block
    // there, so `process()` sees the change at the start of a block of its own.
    const SAMPLE_ACCURATE_AUTOMATION: bool = true;

    type SysExMessage = ();
    type BackgroundTask = ();
    type Editor = editor::EncoreEditor;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    /// Every saved value is restored, the triggers' too; their presses are adopted, not fired,
    /// by the `triggers` field, which a state saved before it existed gets here.
    fn filter_state(state: &mut PluginState) {
        if !state.fields.contains_key("triggers") {
            let counts =
                serde_json::to_string(&TriggerCounts::default()).expect("trigger counts serialise");
            state.fields.insert("triggers".into(), counts);
        }
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone(), self.commands.clone())
    }

    fn activate(
        &mut self,
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        // Never waits: fresh rings for this rate and block size, the worker's ends sent to it
        // (see worker::audio_links); a generation under way goes on untouched. Hosts may
        // activate again without deactivating: the old rings are simply replaced.
        // Takes play exactly at their timeline position: nothing to compensate.
        context.set_latency_samples(0);
        self.sample_rate = buffer_config.sample_rate;
        self.params
            .diagnostics
            .sample_rate_bits
            .store(self.sample_rate.to_bits(), Ordering::Release);
        let offline = buffer_config.process_mode == ProcessMode::Offline;
        self.params
            .diagnostics
            .offline
            .store(offline, Ordering::Release);
        let max_block = buffer_config.max_buffer_size as usize;
        let (capture_tx, capture_rx) = capture_rings(buffer_config.sample_rate, max_block);
        let (playback_tx, playback_rx) = playback_ring(buffer_config.sample_rate);
        // The chosen take as the worker loaded it (at state load or earlier), so that a render
        // right after activate plays it from its first block; no disk access and no wait here.
        // A state load the worker has not handled yet (it reads the take's file): the take
        // follows through the timeline ring, and a block without a deadline waits for it.
        let restores = self.params.shared.restored.load(Ordering::Acquire);
        let ready = self.worker.ready_slot();
        let restored_take = (!ready.has_handled(restores)).then_some((restores, ready));
        let playing = self.worker.ready_take(self.sample_rate);
        let (timeline_tx, timeline_player) = timeline(playing.clone());
        self.worker.attach(AudioLinks {
            sample_rate: buffer_config.sample_rate,
            capture: capture_rx,
            playback: playback_tx,
            timeline: timeline_tx,
            playing,
        });
        self.audio = Some(AudioThreadSide {
            capture: capture_tx,
            playback: playback_rx,
            timeline: timeline_player,
            bypass: Bypass::new(
                buffer_config.sample_rate,
                max_block,
                self.params.bypass.value(),
            ),
            clock: RenderClock::new(buffer_config.sample_rate, offline),
            restored_take,
            pending_requests: 0,
        });
        true
    }

    fn deactivate(&mut self) {
        // Nothing to stop: the worker and its generations outlive activations, and the rings
        // are replaced at the next activate.
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        // Denormal inputs (a fading tail) would make the arithmetic below many times slower.
        let _flush_denormals = denormals::FlushToZero::new();
        let diag = &self.params.diagnostics;
        diag.process_calls.fetch_add(1, Ordering::Relaxed);
        let fired = self.trigger_watch.fired(&self.params.triggers);
        diag.triggers_fired
            .fetch_add(fired.iter().sum(), Ordering::Relaxed);
        let snapshot = snapshot_of(context.transport(), self.sample_rate);
        diag.host_playing.store(snapshot.playing, Ordering::Relaxed);
        diag.host_tempo_bits.store(
            snapshot.tempo_bpm.unwrap_or(0.0).to_bits(),
            Ordering::Relaxed,
        );
        diag.host_position_samples
            .store(snapshot.position_samples.unwrap_or(-1), Ordering::Relaxed);
        diag.host_time_signature.store(
            snapshot.time_signature.map_or(0, TimeSignature::packed),
            Ordering::Relaxed,
        );
        diag.host_beats_bits.store(
            snapshot.pos_beats.unwrap_or(f64::NAN).to_bits(),
            Ordering::Relaxed,
        );
        diag.host_bar_start_bits.store(
            snapshot.bar_start_beats.unwrap_or(f64::NAN).to_bits(),
            Ordering::Relaxed,
        );

        let Some(audio) = self.audio.as_mut() else {
            return ProcessStatus::Normal;
        };
        if snapshot.playing {
            diag.playing_blocks.fetch_add(1, Ordering::Relaxed);
        }
        let no_deadline = audio.clock.block(buffer.samples());
        let continues = TriggerWatch::of(&fired, Trigger::Continue);
        audio.capture_block(buffer, snapshot, continues, no_deadline, diag);

        // Bypassed, the block stays the input, bit for bit; capture goes on (it changes nothing
        // the host hears).
        let bypass = audio
            .bypass
            .begin(self.params.bypass.value(), buffer.as_slice());
        if bypass == BypassBlock::PassThrough {
            return ProcessStatus::Normal;
        }
        if let Some((restores, ready)) = &audio.restored_take
            && (no_deadline || ready.has_handled(*restores))
        {
            start_with_restored_take(&mut audio.timeline, ready, *restores, self.sample_rate);
            // Not the last reference (the worker holds the slot): nothing is freed here.
            audio.restored_take = None;
        }
        let mode = self.params.playback.value();
        if let (true, Some(position)) = (snapshot.playing, snapshot.position_samples) {
            let fade = timeline::fade_frames(self.sample_rate);
            audio
                .timeline
                .play_into(buffer.as_slice(), position, mode, fade);
        }
        audio.playback.play_into(buffer.as_slice(), mode, diag);
        if bypass == BypassBlock::Crossfade {
            audio.bypass.crossfade(buffer.as_slice());
        }
        ProcessStatus::Normal
    }
}

impl AudioThreadSide {
    /// Real-time safe. Sends the block's input (while the transport plays) and the Continue
    /// presses fired in this block to the worker; `no_deadline`: it may wait for room.
    fn capture_block(
        &mut self,
        buffer: &Buffer,
        snapshot: TransportSnapshot,
        continues: u64,
        no_deadline: bool,
        diag: &Diagnostics,
    ) {
        let new = continues.min(u64::from(u32::MAX)) as u32;
        let requests = self.pending_requests.saturating_add(new);
        let no_audio: [&[f32]; 0] = [];
        let delivered = if snapshot.playing {
            self.capture.push(
                buffer.as_slice_immutable(),
                snapshot,
                requests,
                no_deadline,
                diag,
            )
        } else {
            self.capture
                .push(&no_audio, snapshot, requests, no_deadline, diag)
        };
        self.pending_requests = if delivered { 0 } else { requests };
    }
}

/// Waits, at most [`RESTORED_TAKE_WAIT`], until the worker has loaded the chosen take of
/// state load number `restores` (no wait when it has), and starts the timeline with it. Only
/// for blocks without a deadline. Sleeps in short steps; allocates nothing.
fn start_with_restored_take(
    timeline: &mut TimelinePlayer,
    ready: &ReadyTake,
    restores: u64,
    sample_rate: f32,
) {
    let until = std::time::Instant::now() + RESTORED_TAKE_WAIT;
    while !ready.has_handled(restores) && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    if let Some(buffer) = ready.for_rate(sample_rate) {
        timeline.start_with(buffer);
    }
}

/// What the worker needs of the host's transport at a block's start.
fn snapshot_of(transport: &Transport, sample_rate: f32) -> TransportSnapshot {
    let time_signature = match (transport.time_sig_numerator, transport.time_sig_denominator) {
        (Some(n), Some(d)) if n > 0 && d > 0 => Some(TimeSignature {
            numerator: n as u32,
            denominator: d as u32,
        }),
        _ => None,
    };
    TransportSnapshot {
        playing: transport.playing,
        tempo_bpm: transport.tempo,
        position_samples: transport.pos_samples(),
        sample_rate,
        time_signature,
        pos_beats: transport.pos_beats(),
        bar_start_beats: transport.bar_start_pos_beats(),
    }
}

impl Drop for Encore {
    fn drop(&mut self) {
        // The instance is removed: its generations stop (each saves its checkpoint, to resume
        // when the project is opened again) and the worker ends.
        self.worker.stop_and_join();
    }
}

impl ClapPlugin for Encore {
    const CLAP_ID: &'static str = "app.encore.jukebox";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Continues your music with OpenAI's Jukebox, on your own GPU");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];
}

impl Vst3Plugin for Encore {
    const VST3_CLASS_ID: [u8; 16] = *b"EncoreJukeboxAI1";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Generator];
}
