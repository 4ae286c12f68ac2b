//! The thread that reads finished files for their waveforms, so neither the GUI nor the worker
//! waits on the disk for a picture.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::{Sender, unbounded};

use super::{Envelope, FileWave, LevelWave, Stores};
use crate::audio::read_audio_file;

#[derive(Debug)]
pub enum Request {
    Take {
        take: u64,
        level: usize,
        file: PathBuf,
    },
    PromptFile(PathBuf),
}

/// Starts the loader; it ends when the returned sender (the [`super::Waveforms`]) is dropped.
pub fn start(stores: Arc<Stores>) -> Sender<Request> {
    let (sender, requests) = unbounded::<Request>();
    let spawned = std::thread::Builder::new()
        .name("encore-waveforms".into())
        .spawn(move || {
            for request in requests {
                load(&stores, request);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("no waveforms: the waveform thread did not start: {e}");
    }
    sender
}

fn read(path: &Path) -> Result<Envelope, String> {
    let audio = read_audio_file(path).map_err(|e| e.to_string())?;
    Ok(Envelope::from_samples(
        &audio.to_mono(),
        audio.sample_rate as f32,
    ))
}

fn load(stores: &Stores, request: Request) {
    match request {
        Request::Take { take, level, file } => {
            let Ok(envelope) = read(&file) else {
                // The take's row says what is wrong with its file when it is played.
                return;
            };
            let mut takes = stores.takes.write();
            let waves = takes.entry(take).or_default();
            waves.levels.insert(
                level,
                LevelWave {
                    envelope,
                    finished: true,
                },
            );
        }
        Request::PromptFile(path) => {
            let envelope = read(&path);
            *stores.prompt_file.write() = Some(FileWave { path, envelope });
        }
    }
}
