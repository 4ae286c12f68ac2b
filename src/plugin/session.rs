//! What the worker and the editor share: the model's status, the generation under way and the
//! takes. The worker writes; the editor reads and asks for changes with `WorkerCommand`s. The
//! audio thread never touches any of it (locks live here).
//!
//! [`SessionState`] is saved with the project (key `session`): the takes list and the
//! generations not finished yet, so a reopened project shows its takes and resumes its work.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nice_plug::params::persist::PersistentField;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::engine::Settings as GenerationSettings;

/// The model folder as the editor shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum ModelStatus {
    /// No folder chosen.
    #[default]
    NotSet,
    /// Reading and checking the folder.
    Loading(PathBuf),
    Ready(ModelInfo),
    /// The folder cannot be used: the full reason and what to do about it.
    Unusable {
        dir: PathBuf,
        reason: String,
    },
}

/// What the editor needs from a usable model's manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub dir: PathBuf,
    pub name: String,
    /// Vocabularies for the pickers, in the manifest's order.
    pub artists: Vec<String>,
    pub genres: Vec<String>,
    /// How many genres one song may have (the manifest's `labels.max_nb_genres`).
    pub max_genres: usize,
    /// Whether the top prior is conditioned on lyrics.
    pub has_lyrics: bool,
    /// Longest song (prompt + continuation) the top prior allows, in seconds.
    pub max_song_seconds: f64,
    /// Where the graphs run and why, e.g. "CPU: no CUDA library found (...)".
    pub device: String,
    /// The model's sample rate and each level's hop (samples per code, index = level): how
    /// many codes a length of audio costs at each level.
    pub sample_rate: u32,
    pub hop_lengths: Vec<usize>,
}

/// Progress of one level of the generation under way.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelProgress {
    pub level: usize,
    pub done: usize,
    pub total: usize,
    pub codes_per_second: f64,
    pub eta_seconds: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GenerationPhase {
    /// Waiting behind `ahead` other generations.
    Queued {
        ahead: usize,
    },
    /// Loading the model and encoding the prompt.
    Preparing,
    Running,
    Finished,
    Cancelled,
    /// One line saying what went wrong.
    Failed(String),
}

/// The generation the editor shows (the latest one started).
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationView {
    pub job: u64,
    pub phase: GenerationPhase,
    /// One entry per level started so far, top level first.
    pub levels: Vec<LevelProgress>,
    pub target_level: usize,
    pub takes: usize,
    /// Host timeline position (samples at the host rate) where the continuation starts.
    pub timeline_start: i64,
}

/// One take: its own WAV file, at the host's sample rate, placed on the host timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Take {
    /// Unique within this plugin instance, never reused.
    pub id: u64,
    /// Shown in the list; renaming renames the file too.
    pub name: String,
    /// The best level finished so far; `file` holds that level's audio.
    pub level: usize,
    pub file: PathBuf,
    /// Host timeline position (samples at `sample_rate`) where the continuation starts.
    pub timeline_start: i64,
    pub sample_rate: f32,
    /// Length of the continuation in frames at `sample_rate`.
    pub frames: u64,
    /// Which row of its generation's batch this take is.
    pub batch_row: usize,
    pub settings: GenerationSettings,
    /// The finished generation that holds this take's codes: what Upsample, Extend and
    /// Re-generate start from. `None` for takes made before follow-ups existed.
    #[serde(default)]
    pub source: Option<TakeSource>,
    /// The take this one was derived from (Extend, Re-generate from here, Retry). Only a link:
    /// deleting the parent never touches its children.
    #[serde(default)]
    pub parent: Option<TakeParent>,
}

/// A take's codes on disk: a finished generation's checkpoint and the take's number in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TakeSource {
    pub checkpoint: PathBuf,
    /// The take's number in that generation (not its row: an upsample keeps numbers).
    pub number: usize,
    /// Where the take's continuation (its WAV) starts in that generation's song, in samples at
    /// the model's rate: the original prompt's end. A derived take's generation has a longer
    /// prompt (the parent's kept part); its WAV still starts here. `None`: the checkpoint's
    /// prompt end.
    #[serde(default)]
    pub origin_samples: Option<usize>,
}

/// Where a derived take came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TakeParent {
    pub take: u64,
    /// The parent's name when the child was made (the parent may be renamed or deleted since).
    pub name: String,
    pub derivation: Derivation,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Derivation {
    /// Continued from the parent's end.
    Extended,
    /// The parent's first `seconds` of continuation kept, the rest sampled anew.
    RegeneratedFrom { seconds: f64 },
    /// The parent's request again with a new seed.
    Retried,
    /// The parent's audio from `start_seconds` to `end_seconds` into it, as a file of its own
    /// (the parent's files are only read).
    Cropped {
        start_seconds: f64,
        end_seconds: f64,
    },
}

/// A generation that had not finished when the state was saved; resumed on load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unfinished {
    pub checkpoint: PathBuf,
    pub timeline_start: i64,
    pub sample_rate: f32,
    /// The take ids its rows will get (assigned when the generation started).
    pub take_ids: Vec<u64>,
}

/// Saved with the project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionState {
    /// Names this instance's takes subfolder (its track and the day, see
    /// `takes::instance_folder_name`; a hex id in projects from before); made once, kept in
    /// the project.
    pub instance_id: String,
    pub takes: Vec<Take>,
    /// The take that plays on the timeline.
    pub chosen: Option<u64>,
    pub next_take_id: u64,
    pub unfinished: Vec<Unfinished>,
    /// Every level's file of each take (by id), worst level first; the take's `file` is the
    /// last. Renaming and deleting a take act on all of them.
    pub level_files: BTreeMap<u64, Vec<PathBuf>>,
    /// How fast each level sampled last time (for the editor's cost estimates).
    pub speeds: super::cost::LevelSpeeds,
    /// The take that played before a generation's first take was chosen: what plays again
    /// when the user cancels that generation before it wrote any audio. Not saved.
    #[serde(skip)]
    pub chosen_before_generating: Option<u64>,
}

impl SessionState {
    /// The take with this id, if it is in the list.
    pub fn take(&self, id: u64) -> Option<&Take> {
        self.takes.iter().find(|t| t.id == id)
    }

    /// `count` take ids never used before in this session (nor by a take in its list). Ids
    /// count from 1, as a producer counts takes: the first take is "Take 1".
    pub fn reserve_take_ids(&mut self, count: u64) -> Vec<u64> {
        let first = self
            .next_take_id
            .max(self.takes.iter().map(|t| t.id + 1).max().unwrap_or(0))
            .max(1);
        self.next_take_id = first + count;
        (first..first + count).collect()
    }

    /// Chooses the first take of a generation just started (it plays as it is generated),
    /// remembering the take that played before it for a Cancel. A second Continue keeps the
    /// take remembered by the first: that one is still the last with audio.
    pub fn choose_generating(&mut self, take: Option<u64>) {
        if self.chosen.is_none_or(|c| self.take(c).is_some()) {
            self.chosen_before_generating = self.chosen;
        }
        self.chosen = take;
    }

    /// After the user's Cancel: a chosen take without any audio yet (its generation never
    /// finished a level, so it never enters the list) hands the timeline back to the take that
    /// played before. True when the choice changed.
    pub fn unchoose_cancelled(&mut self) -> bool {
        match self.chosen {
            Some(chosen) if self.take(chosen).is_none() => {
                let before = self.chosen_before_generating.take();
                self.chosen = before.filter(|b| self.take(*b).is_some());
                true
            }
            _ => false,
        }
    }

    /// Takes reserved by generations still running and not in the list yet (their first level
    /// is not written): the list shows them as generating.
    pub fn generating_take_ids(&self) -> Vec<u64> {
        self.unfinished
            .iter()
            .flat_map(|u| &u.take_ids)
            .copied()
            .filter(|id| self.take(*id).is_none())
            .collect()
    }
}

/// Everything shared between the worker and the editor.
#[derive(Debug, Default)]
pub struct Shared {
    pub model: RwLock<ModelStatus>,
    pub generation: RwLock<Option<GenerationView>>,
    pub session: RwLock<SessionState>,
    /// The last failure the user should see (a take that could not be written, ...).
    pub last_error: RwLock<Option<String>>,
    /// Counts states restored by the host, so the worker notices a project loaded while it
    /// runs (it then resumes the unfinished generations and reloads the chosen take).
    pub restored: AtomicU64,
    /// The editor's waveforms (recording, prompt file, takes), fed by the worker.
    pub waveforms: super::waveform::Waveforms,
    /// The name of the track Encore is on, as the host last told the editor (CLAP's
    /// track-info); names a new instance's takes folder.
    pub track_name: RwLock<Option<String>>,
}

impl<'a> PersistentField<'a, SessionState> for Arc<Shared> {
    fn set(&self, restored: SessionState) {
        *self.session.write() = restored;
        self.restored.fetch_add(1, Ordering::AcqRel);
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&SessionState) -> R,
    {
        f(&self.session.read())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_are_numbered_from_1_and_never_reuse_an_id() {
        let mut session = SessionState::default();
        assert_eq!(session.reserve_take_ids(3), [1, 2, 3]);
        assert_eq!(session.reserve_take_ids(1), [4]);
        // A restored project from before: its take 0 keeps its id, new ones come after.
        let mut old = SessionState {
            next_take_id: 0,
            ..Default::default()
        };
        old.unfinished.push(Unfinished {
            checkpoint: "/c.json".into(),
            timeline_start: 0,
            sample_rate: 48_000.0,
            take_ids: vec![7],
        });
        assert_eq!(old.reserve_take_ids(1), [1]);
        assert_eq!(old.generating_take_ids(), [7]);
        assert_eq!(crate::plugin::takes::default_name(1), "Take 1");
    }

    #[test]
    fn a_cancel_before_any_audio_gives_the_timeline_back() {
        let take = |id| Take {
            id,
            name: crate::plugin::takes::default_name(id),
            level: 2,
            file: format!("/music/Take {id} L2.wav").into(),
            timeline_start: 0,
            sample_rate: 48_000.0,
            frames: 48_000,
            batch_row: 0,
            settings: GenerationSettings::new(1.0, 7),
            source: None,
            parent: None,
        };
        let mut session = SessionState {
            takes: vec![take(1)],
            chosen: Some(1),
            ..Default::default()
        };
        session.choose_generating(Some(2));
        session.choose_generating(Some(3));
        assert!(session.unchoose_cancelled());
        assert_eq!(
            session.chosen,
            Some(1),
            "take 1 played before both Continues"
        );
        // Once the new take has audio it is what plays, and a Cancel keeps it.
        session.choose_generating(Some(4));
        session.takes.push(take(4));
        assert!(!session.unchoose_cancelled());
        assert_eq!(session.chosen, Some(4));
    }
}
