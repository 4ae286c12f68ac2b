//! Encore: continue music with OpenAI's Jukebox inside the DAW.
//!
//! Three layers, each knowing only the one below it:
//! - [`plugin`]: the real-time plugin (VST3/CLAP via nice-plug): capture, playback, editor.
//! - [`engine`]: inference on ONNX Runtime; it knows nothing of plugins (the CLI drives it too).
//! - the Jukebox model definition (manifest, conditioning), which the engine reads.

pub mod audio;
pub mod engine;
pub mod jukebox;
pub mod plugin;

pub use plugin::Encore;

nice_plug::nice_export_clap!(Encore);
nice_plug::nice_export_vst3!(Encore);
