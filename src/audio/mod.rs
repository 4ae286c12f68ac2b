//! Audio files and formats at the edges of the engine: reading prompts in any common format,
//! bringing them to the model's mono 44.1 kHz, and writing takes as WAV files.

mod decode;
mod prompt;
mod resample;
mod wav;

pub use decode::{DecodedAudio, read_audio_file};
pub use prompt::{PROMPT_KEEP_SECONDS, PromptError, prepare_prompt};
pub use resample::resample_mono;
pub use wav::{WavFormat, unused_wav_path, write_wav_new};

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("cannot read {path}: {reason}")]
    Read {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("cannot write {path}: {reason}")]
    Write {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("cannot resample from {from} Hz to {to} Hz: {reason}")]
    Resample { from: u32, to: u32, reason: String },
}
