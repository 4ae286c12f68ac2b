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
    /// Names this instance's takes subfolder; made once, kept in the project.
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
}

impl SessionState {
    /// The take with this id, if it is in the list.
    pub fn take(&self, id: u64) -> Option<&Take> {
        self.takes.iter().find(|t| t.id == id)
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
