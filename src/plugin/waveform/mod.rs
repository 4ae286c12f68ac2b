//! Waveforms for the editor: the captured recording, the prompt file and every take's levels,
//! as [`Envelope`]s.
//!
//! Who computes what, and where:
//! - the worker thread follows the recording ([`Waveforms::follow_recording`], after each
//!   capture drain) and the takes' streamed audio ([`Waveforms::stream`], per engine chunk):
//!   a min/max per 64 samples, cheap next to the work it does around them;
//! - a loader thread of its own reads finished files (each take's finished level, the prompt
//!   file) when the editor asks ([`Waveforms::want_take_file`], [`Waveforms::want_prompt_file`]);
//! - the editor only reads, under short read locks, a few bins per pixel column.
//!
//! The audio thread never touches any of this.

pub mod envelope;
mod loader;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::Sender;
use parking_lot::{Mutex, RwLock};

pub use envelope::{Envelope, MinMax};

use super::capture::CHANNELS;
use super::recordings::Recording;

/// The recording as the editor shows it.
#[derive(Debug, Clone)]
pub struct RecordingWave {
    /// Timeline position (samples at the envelope's rate) of the envelope's frame 0.
    pub origin: i64,
    pub envelope: Envelope,
}

/// One level of one take.
#[derive(Debug, Clone)]
pub struct LevelWave {
    pub envelope: Envelope,
    /// Read from the level's finished file; otherwise still streaming.
    pub finished: bool,
}

/// Every level of one take seen so far, by level (0 is the best).
#[derive(Debug, Clone, Default)]
pub struct TakeWaves {
    pub levels: BTreeMap<usize, LevelWave>,
}

impl TakeWaves {
    /// The best finished level, shown as the take's waveform.
    pub fn best_finished(&self) -> Option<(usize, &LevelWave)> {
        self.levels
            .iter()
            .find(|(_, w)| w.finished)
            .map(|(level, wave)| (*level, wave))
    }

    /// A level still streaming that is better than every finished one: drawn over it, growing.
    pub fn streaming(&self) -> Option<(usize, &LevelWave)> {
        let best = self.best_finished().map_or(usize::MAX, |(level, _)| level);
        self.levels
            .iter()
            .find(|(level, w)| !w.finished && **level < best)
            .map(|(level, wave)| (*level, wave))
    }
}

/// A file read for its waveform.
#[derive(Debug, Clone)]
pub struct FileWave {
    pub path: PathBuf,
    /// `Err`: why the file could not be read.
    pub envelope: Result<Envelope, String>,
}

#[derive(Debug, Default)]
struct Stores {
    recording: RwLock<Option<RecordingWave>>,
    takes: RwLock<BTreeMap<u64, TakeWaves>>,
    prompt_file: RwLock<Option<FileWave>>,
}

#[derive(Debug, Default)]
pub struct Waveforms {
    stores: Arc<Stores>,
    /// The loader thread's queue; started on the first request.
    loader: Mutex<Option<Sender<loader::Request>>>,
    /// Files asked for already (take id, level, file), so a frame asks once.
    requested: Mutex<HashSet<(u64, usize, PathBuf)>>,
}

impl Waveforms {
    /// Worker: brings the recording's envelope up to date with the recorder's latest
    /// recording (a new recording starts a new envelope; audio the recorder forgot is trimmed).
    pub fn follow_recording(&self, latest: Option<&Recording>) {
        let Some(latest) = latest else {
            return;
        };
        let mut wave = self.stores.recording.write();
        let same = wave.as_ref().is_some_and(|w| {
            w.envelope.sample_rate == latest.sample_rate
                && w.origin <= latest.start
                && w.origin + w.envelope.frames() as i64 <= latest.end()
                && w.origin + w.envelope.frames() as i64 >= latest.start
        });
        if !same {
            *wave = Some(RecordingWave {
                origin: latest.start,
                envelope: Envelope::new(latest.sample_rate),
            });
        }
        let Some(wave) = wave.as_mut() else {
            return;
        };
        let held_end = wave.origin + wave.envelope.frames() as i64;
        if latest.end() > held_end {
            let interleaved = latest.interleaved(held_end, latest.end());
            let mono: Vec<f32> = interleaved
                .chunks_exact(CHANNELS)
                .map(|frame| frame.iter().sum::<f32>() / CHANNELS as f32)
                .collect();
            wave.envelope.push(&mono);
        }
        wave.envelope
            .trim_front((latest.start - wave.origin).max(0) as u64);
    }

    /// Worker: one chunk of a take's level as the engine streams it; `at`: its first frame
    /// after the prompt's end, at `sample_rate`.
    pub fn stream(&self, take: u64, level: usize, at: u64, samples: &[f32], sample_rate: f32) {
        let mut takes = self.stores.takes.write();
        let wave = takes.entry(take).or_default().levels.entry(level);
        let wave = wave.or_insert_with(|| LevelWave {
            envelope: Envelope::new(sample_rate),
            finished: false,
        });
        if !wave.finished {
            wave.envelope.write_at(at, samples);
        }
    }

    /// Editor: the finished `level` of `take` is in `file`; its envelope is read off the GUI
    /// thread (once per file).
    pub fn want_take_file(&self, take: u64, level: usize, file: &Path) {
        let key = (take, level, file.to_path_buf());
        if !self.requested.lock().insert(key) {
            return;
        }
        self.send(loader::Request::Take {
            take,
            level,
            file: file.to_path_buf(),
        });
    }

    /// Editor: the prompt file to show instead of the recording.
    pub fn want_prompt_file(&self, path: &Path) {
        let current = self
            .stores
            .prompt_file
            .read()
            .as_ref()
            .map(|f| f.path.clone());
        if current.as_deref() == Some(path)
            || !self
                .requested
                .lock()
                .insert((0, usize::MAX, path.to_path_buf()))
        {
            return;
        }
        self.send(loader::Request::PromptFile(path.to_path_buf()));
    }

    /// Editor: forgets takes no longer in the list (deleted), keeping those in `keep`.
    pub fn retain_takes(&self, keep: impl Fn(u64) -> bool) {
        self.stores.takes.write().retain(|id, _| keep(*id));
        self.requested
            .lock()
            .retain(|(id, level, _)| *level == usize::MAX || keep(*id));
    }

    pub fn recording(&self) -> parking_lot::RwLockReadGuard<'_, Option<RecordingWave>> {
        self.stores.recording.read()
    }

    pub fn takes(&self) -> parking_lot::RwLockReadGuard<'_, BTreeMap<u64, TakeWaves>> {
        self.stores.takes.read()
    }

    pub fn prompt_file(&self) -> parking_lot::RwLockReadGuard<'_, Option<FileWave>> {
        self.stores.prompt_file.read()
    }

    fn send(&self, request: loader::Request) {
        let mut loader = self.loader.lock();
        let sender = loader.get_or_insert_with(|| loader::start(self.stores.clone()));
        if sender.send(request).is_err() {
            // The thread could not start or died: a later request tries again.
            *loader = None;
        }
    }
}

#[cfg(test)]
mod tests;
