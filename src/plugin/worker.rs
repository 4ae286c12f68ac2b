//! The plugin's worker thread: the bridge between the audio thread and the engine.
//!
//! It drains the capture ring, answers the editor's commands, and streams audio back through the
//! playback ring. It runs from activate to deactivate; everything slow (loading ONNX Runtime,
//! later the engine) happens here, never on the audio thread.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use rtrb::Producer;

use super::capture::{CHANNELS, CaptureConsumer};
use super::diagnostics::{Diagnostics, RuntimeStatus};
use crate::engine::runtime::{self, RuntimeSearch};

/// How often the worker wakes to drain the capture ring when no command arrives.
const POLL: Duration = Duration::from_millis(5);
/// Captured audio kept for prompts: more than the top prior's ~24 s of context.
const HISTORY_SECONDS: f32 = 40.0;

/// Requests from the editor (or the plugin) to the worker.
#[derive(Debug, Clone)]
pub enum WorkerCommand {
    /// Look for ONNX Runtime again, with the user's chosen path first.
    LoadRuntime { user_path: Option<PathBuf> },
    /// Play the last `seconds` of captured audio back onto the track, so the user can hear what
    /// Encore will use as the prompt.
    PlayPrompt { seconds: f32 },
}

/// What a worker needs that outlives it (shared with the editor across activations).
#[derive(Clone)]
pub struct WorkerLinks {
    pub commands: Receiver<WorkerCommand>,
    pub diagnostics: Arc<Diagnostics>,
    /// The user's ONNX Runtime path at start-up.
    pub ort_library: Option<PathBuf>,
}

pub struct WorkerHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WorkerHandle {
    pub fn spawn(
        links: WorkerLinks,
        sample_rate: f32,
        capture: CaptureConsumer,
        playback: Producer<f32>,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let history_len = (sample_rate * HISTORY_SECONDS) as usize * CHANNELS;
        let worker = Worker {
            links,
            capture,
            playback,
            stop: stop.clone(),
            sample_rate,
            block: Vec::new(),
            history: VecDeque::with_capacity(history_len),
            history_len,
            audition: VecDeque::new(),
        };
        let thread = std::thread::Builder::new()
            .name("encore-worker".into())
            .spawn(move || worker.run())
            .expect("the OS refused to start Encore's worker thread");
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the thread and waits for it (within one poll interval).
    pub fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("Encore's worker thread panicked");
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

struct Worker {
    links: WorkerLinks,
    capture: CaptureConsumer,
    playback: Producer<f32>,
    stop: Arc<AtomicBool>,
    sample_rate: f32,
    /// Reused buffer for one captured block's samples.
    block: Vec<f32>,
    /// The most recent captured audio, interleaved stereo, at most `history_len` samples.
    history: VecDeque<f32>,
    history_len: usize,
    /// Audio waiting for room in the playback ring.
    audition: VecDeque<f32>,
}

impl Worker {
    fn run(mut self) {
        self.links
            .diagnostics
            .worker_starts
            .fetch_add(1, Ordering::Relaxed);
        self.load_runtime(self.links.ort_library.clone());
        while !self.stop.load(Ordering::Acquire) {
            match self.links.commands.recv_timeout(POLL) {
                Ok(command) => self.handle(command),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.drain_capture();
            self.feed_playback();
        }
        // Whatever the audio thread pushed before it stopped still counts as received.
        self.drain_capture();
    }

    fn handle(&mut self, command: WorkerCommand) {
        match command {
            WorkerCommand::LoadRuntime { user_path } => self.load_runtime(user_path),
            WorkerCommand::PlayPrompt { seconds } => {
                let wanted = (seconds.max(0.0) * self.sample_rate) as usize * CHANNELS;
                let start = self.history.len().saturating_sub(wanted);
                self.audition.extend(self.history.range(start..));
            }
        }
    }

    fn load_runtime(&mut self, user_path: Option<PathBuf>) {
        let search = RuntimeSearch::from_this_binary(user_path);
        let status = match runtime::ensure_loaded(&search) {
            Ok(runtime) => RuntimeStatus::Ready(runtime.info.clone()),
            Err(error) => {
                tracing::warn!("{error}");
                RuntimeStatus::Unavailable(error.to_string())
            }
        };
        *self.links.diagnostics.runtime.write() = status;
    }

    fn drain_capture(&mut self) {
        loop {
            self.block.clear();
            let Some(header) = self.capture.pop_block(&mut self.block) else {
                break;
            };
            self.links
                .diagnostics
                .received_frames
                .fetch_add(u64::from(header.frames), Ordering::Release);
            self.remember_block();
        }
    }

    /// Appends the block just read to the history, forgetting the oldest audio.
    fn remember_block(&mut self) {
        let block = &self.block[self.block.len().saturating_sub(self.history_len)..];
        let overflow = (self.history.len() + block.len()).saturating_sub(self.history_len);
        self.history.drain(..overflow);
        self.history.extend(block);
    }

    fn feed_playback(&mut self) {
        let room = self.playback.slots().min(self.audition.len());
        for sample in self.audition.drain(..room) {
            // Cannot fail: we only take as many samples as there are free slots.
            let _ = self.playback.push(sample);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::plugin::capture::{TransportSnapshot, capture_rings};
    use crate::plugin::params::PlaybackMode;
    use crate::plugin::playback::playback_ring;

    const RATE: f32 = 1000.0;

    fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn receives_every_captured_frame_and_plays_the_prompt_back() {
        let diagnostics = Arc::new(Diagnostics::default());
        let (commands_tx, commands) = crossbeam_channel::unbounded();
        let links = WorkerLinks {
            commands,
            diagnostics: diagnostics.clone(),
            ort_library: Some("/nonexistent/libonnxruntime.so".into()),
        };
        let (mut capture, capture_rx) = capture_rings(RATE, 64);
        let (playback_tx, mut playback) = playback_ring(RATE);
        let mut worker = WorkerHandle::spawn(links, RATE, capture_rx, playback_tx);

        let transport = TransportSnapshot {
            playing: true,
            tempo_bpm: None,
            position_samples: None,
            sample_rate: RATE,
        };
        let ramp: Vec<f32> = (0..50).map(|i| i as f32).collect();
        for _ in 0..4 {
            assert!(capture.push(&[&ramp], transport, &diagnostics));
        }
        wait_until("the worker drained the ring", || {
            diagnostics.received_frames.load(Ordering::Acquire) == 200
        });

        // The last 10 ms at 1 kHz are the ramp's last 10 samples, duplicated to stereo.
        commands_tx
            .send(WorkerCommand::PlayPrompt { seconds: 0.01 })
            .unwrap();
        let mut out = [0.0f32; 10];
        wait_until("the prompt reached the playback ring", || {
            playback.play_into(&mut [&mut out], PlaybackMode::Replace, &diagnostics);
            diagnostics.played_frames.load(Ordering::Acquire) >= 10
        });
        assert_eq!(
            out,
            [40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 47.0, 48.0, 49.0]
        );

        let stopping = Instant::now();
        worker.stop_and_join();
        assert!(stopping.elapsed() < Duration::from_secs(1));
        assert!(
            diagnostics
                .runtime
                .read()
                .to_string()
                .starts_with("unavailable")
        );
    }
}
