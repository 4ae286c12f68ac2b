//! Windowed sampling of one level, the way the reference samples (docs/prior-graphs.md, "The
//! port's windows"): windows of `music_ctx` codes advanced by a hop, the codes already present in
//! a window are its prime, a window with nothing new is skipped.
//!
//! [`LevelSampler`] is driven one graph call at a time ([`LevelSampler::step`]), so a caller can
//! cancel between any two calls, report progress and checkpoint.
//!
//! - `layout`: which windows a level samples;
//! - `conditioning`: what each window is conditioned on (labels, lyrics, upper codes);
//! - `sampler`: the level's state, its checks and its checkpoint;
//! - `step`: one graph call (condition, prefill a chunk, sample a position).

mod conditioning;
mod layout;
mod sampler;
mod step;

pub use conditioning::{SongLabels, lyric_window};
pub use layout::{Window, hop_length, plan_windows, window_starts};
pub use sampler::{LevelCheckpoint, LevelRequest, LevelSampler};
pub use step::StepOutcome;
