//! The editor's requests to the worker ([`WorkerCommand`]) and what the worker does for each.

use std::path::PathBuf;

use super::Worker;
use crate::plugin::jobs::report;
use crate::plugin::model::default_model_dir;

/// Requests from the editor (or the plugin) to the worker.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerCommand {
    /// Look for ONNX Runtime again, with the user's chosen path first.
    LoadRuntime { user_path: Option<PathBuf> },
    /// Play the last `seconds` of captured audio back onto the track, so the user can hear what
    /// Encore will use as the prompt.
    PlayPrompt { seconds: f32 },
    /// Read and check a model folder (the result lands in `Shared::model`); also saved in
    /// the settings.
    LoadModel { dir: PathBuf },
    /// Send the prompt to the engine with the current parameters and settings (the editor's
    /// button; the `continue` parameter does the same through the audio thread).
    Continue,
    /// Cancel the running generation and every queued one; they are not resumed later (levels
    /// already finished keep their takes).
    Cancel,
    /// Play a take now, whatever the transport does; `None` stops.
    Audition { take: Option<u64> },
    /// Play a take from `seconds` into it (a click on its waveform).
    AuditionFrom { take: u64, seconds: f64 },
    /// The take that plays on the timeline; `None`: none.
    Choose { take: Option<u64> },
    /// Renames the take and its file (refused when the new file name is taken).
    Rename { take: u64, name: String },
    /// Removes the take from the list and deletes its files.
    Delete { take: u64 },
    /// Upsample a previewed take down to `level` (1 or 0); the new levels replace its audio
    /// on the timeline as they finish, as in a generation made at that level.
    Upsample { take: u64, level: usize },
    /// Continue a take from its end by `seconds`: a new take (its parent linked).
    Extend { take: u64, seconds: f64 },
    /// Keep a take's first `at_seconds` of continuation and sample the rest anew: `takes` new
    /// takes, each as long as the parent.
    RegenerateFrom {
        take: u64,
        at_seconds: f64,
        takes: usize,
    },
    /// The take's request again (same prompt and settings) with a new seed.
    Retry { take: u64 },
    /// A new take holding the take's audio from `start_seconds` to `end_seconds` into it, in a
    /// file of its own; the take and its files stay as they are.
    Crop {
        take: u64,
        start_seconds: f64,
        end_seconds: f64,
    },
    /// Tests only: the worker panics with this message (a stand-in for any bug in it).
    #[cfg(test)]
    Fail(String),
}

impl Worker {
    pub(super) fn handle(&mut self, command: WorkerCommand) {
        match command {
            WorkerCommand::LoadRuntime { user_path } => {
                self.load_runtime(user_path);
                let dir = self.links.params.settings.read().model_dir.clone();
                if let Some(dir) = default_model_dir(dir.as_deref()) {
                    self.load_model(dir);
                }
            }
            WorkerCommand::PlayPrompt { seconds } => self.play_prompt(seconds),
            WorkerCommand::LoadModel { dir } => {
                self.links.params.settings.write().model_dir = Some(dir.clone());
                self.load_model(dir);
            }
            WorkerCommand::Continue => {
                // Everything played up to the press belongs to the prompt; the press counts
                // where the audio thread's last block started, as an automated Continue would.
                self.drain_capture();
                self.request_continue(self.diagnostics.last_transport());
            }
            WorkerCommand::Cancel => {
                if let Some(generations) = &mut self.generations {
                    generations.cancel_all();
                }
                // Cancel never changes what plays: a take that has no audio yet gives the
                // timeline back to the one chosen before its Continue.
                if self.shared.session.write().unchoose_cancelled() {
                    self.timeline_stale = true;
                }
            }
            WorkerCommand::Audition { take } => self.audition(take),
            WorkerCommand::AuditionFrom { take, seconds } => self.audition_from(take, seconds),
            WorkerCommand::Choose { take } => {
                self.shared.session.write().chosen = take;
                self.timeline_stale = true;
            }
            WorkerCommand::Rename { take, name } => {
                if let Err(e) = self.rename(take, &name) {
                    report(&self.shared, format!("cannot rename the take: {e}"));
                }
            }
            WorkerCommand::Delete { take } => {
                if let Err(e) = self.delete(take) {
                    report(&self.shared, format!("cannot delete the take: {e}"));
                }
            }
            WorkerCommand::Upsample { take, level } => self.upsample_take(take, level),
            WorkerCommand::Extend { take, seconds } => self.extend_take(take, seconds),
            WorkerCommand::RegenerateFrom {
                take,
                at_seconds,
                takes,
            } => self.regenerate_take(take, at_seconds, takes),
            WorkerCommand::Retry { take } => self.retry_take(take),
            WorkerCommand::Crop {
                take,
                start_seconds,
                end_seconds,
            } => {
                if let Err(e) = self.crop(take, start_seconds, end_seconds) {
                    report(&self.shared, format!("cannot crop the take: {e}"));
                }
            }
            #[cfg(test)]
            WorkerCommand::Fail(message) => panic!("{message}"),
        }
    }
}
