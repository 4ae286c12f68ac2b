//! What the user asks of a generation.

use serde::{Deserialize, Serialize};

/// Song length the top prior is told when the user does not say (the Jukebox notebook's 180 s),
/// so a continuation is not conditioned to end where the generated audio ends.
pub const DEFAULT_SONG_SECONDS: f64 = 180.0;

/// What the user asks for. Serialised into checkpoints and the CLI's sidecars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Seconds of new audio after the prompt.
    pub seconds: f64,
    /// Takes sampled together as one batch.
    pub takes: usize,
    /// Stop after this level: 2 = top-level preview only, 1, or 0 (full quality).
    pub target_level: usize,
    /// `None`: the unknown artist.
    pub artist: Option<String>,
    pub genres: Vec<String>,
    /// Lyrics for the top prior (ignored by models without lyrics only when empty).
    pub lyrics: String,
    /// Song length the top prior is conditioned on; `None`: [`DEFAULT_SONG_SECONDS`] or the
    /// generated length if longer.
    pub song_seconds: Option<f64>,
    /// `None`: the manifest's default of each level.
    pub temperature: Option<f32>,
    pub top_k: Option<usize>,
    pub top_p: Option<f32>,
    /// Names the takes: every level and take samples from its own stream of this seed.
    pub seed: u64,
}

impl Settings {
    pub fn new(seconds: f64, seed: u64) -> Self {
        Self {
            seconds,
            takes: 1,
            target_level: 0,
            artist: None,
            genres: Vec::new(),
            lyrics: String::new(),
            song_seconds: None,
            temperature: None,
            top_k: None,
            top_p: None,
            seed,
        }
    }
}
