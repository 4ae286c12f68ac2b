//! The real-time plugin layer: nice-plug's `Plugin`, its parameters and editor, and the audio
//! thread's side of capture and playback.
//!
//! Real-time contract of `process()`: no allocation, no lock, no blocking call, no I/O. It only
//! touches the two rings (wait-free) and atomics. Debug builds abort on any allocation there
//! (`assert_process_allocs`).

mod capture;
mod diagnostics;
mod editor;
mod params;
mod playback;
mod settings;
mod worker;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_channel::{Receiver, Sender};
use nice_plug::prelude::*;

use capture::{CaptureProducer, TransportSnapshot, capture_rings};
pub use diagnostics::{Diagnostics, DiagnosticsSnapshot};
pub use params::{EncoreParams, PlaybackMode, TargetLevel};
use playback::{PlaybackConsumer, playback_ring};
pub use settings::Settings;
use worker::{WorkerCommand, WorkerHandle, WorkerLinks};

pub struct Encore {
    params: Arc<EncoreParams>,
    /// Commands from the editor; the channel outlives workers so an open editor keeps working
    /// across deactivate/activate.
    commands: (Sender<WorkerCommand>, Receiver<WorkerCommand>),
    /// The audio thread's ends of the rings; `None` until the first activate.
    audio: Option<AudioThreadSide>,
    worker: Option<WorkerHandle>,
    sample_rate: f32,
}

struct AudioThreadSide {
    capture: CaptureProducer,
    playback: PlaybackConsumer,
}

impl Default for Encore {
    fn default() -> Self {
        Self {
            params: Arc::new(EncoreParams::default()),
            commands: crossbeam_channel::unbounded(),
            audio: None,
            worker: None,
            sample_rate: 44_100.0,
        }
    }
}

impl Encore {
    fn stop_worker(&mut self) {
        if let Some(mut worker) = self.worker.take() {
            worker.stop_and_join();
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

    type SysExMessage = ();
    type BackgroundTask = ();
    type Editor = editor::EncoreEditor;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone(), self.commands.0.clone())
    }

    fn activate(
        &mut self,
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        // Hosts may activate again without deactivating: start from a clean worker each time.
        self.stop_worker();
        self.sample_rate = buffer_config.sample_rate;
        self.params
            .diagnostics
            .sample_rate_bits
            .store(self.sample_rate.to_bits(), Ordering::Release);
        let max_block = buffer_config.max_buffer_size as usize;
        let (capture_tx, capture_rx) = capture_rings(buffer_config.sample_rate, max_block);
        let (playback_tx, playback_rx) = playback_ring(buffer_config.sample_rate);
        let links = WorkerLinks {
            commands: self.commands.1.clone(),
            diagnostics: self.params.diagnostics.clone(),
            ort_library: self.params.settings.read().ort_library.clone(),
        };
        self.worker = Some(WorkerHandle::spawn(
            links,
            buffer_config.sample_rate,
            capture_rx,
            playback_tx,
        ));
        self.audio = Some(AudioThreadSide {
            capture: capture_tx,
            playback: playback_rx,
        });
        true
    }

    fn deactivate(&mut self) {
        self.stop_worker();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let diag = &self.params.diagnostics;
        diag.process_calls.fetch_add(1, Ordering::Relaxed);
        let transport = context.transport();
        let snapshot = TransportSnapshot {
            playing: transport.playing,
            tempo_bpm: transport.tempo,
            position_samples: transport.pos_samples(),
            sample_rate: self.sample_rate,
        };
        diag.host_playing.store(snapshot.playing, Ordering::Relaxed);
        diag.host_tempo_bits.store(
            snapshot.tempo_bpm.unwrap_or(0.0).to_bits(),
            Ordering::Relaxed,
        );
        diag.host_position_samples
            .store(snapshot.position_samples.unwrap_or(-1), Ordering::Relaxed);

        let Some(audio) = self.audio.as_mut() else {
            return ProcessStatus::Normal;
        };
        if snapshot.playing {
            diag.playing_blocks.fetch_add(1, Ordering::Relaxed);
            audio
                .capture
                .push(buffer.as_slice_immutable(), snapshot, diag);
        }
        audio
            .playback
            .play_into(buffer.as_slice(), self.params.playback.value(), diag);
        ProcessStatus::Normal
    }
}

impl Drop for Encore {
    fn drop(&mut self) {
        self.stop_worker();
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
