//! The prompt source "an audio file" ([`PromptSource::File`]): the end of a WAV, FLAC, MP3 or
//! OGG file instead of what the host played. It needs no playing host, so it also works in the
//! standalone app. The worker calls [`read_prompt_file`] on its own thread (it reads the disk).
//!
//! [`PromptSource::File`]: super::settings::PromptSource::File

use std::path::Path;

use crate::audio::{AudioError, DecodedAudio, read_audio_file};

#[derive(Debug, thiserror::Error)]
pub enum PromptFileError {
    #[error("choose the prompt's audio file first")]
    NotChosen,
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error("{path} holds no audio")]
    Empty { path: std::path::PathBuf },
}

/// The last `keep_seconds` of the file at `path`, at the file's own rate and channels: the
/// continuation follows the end of the file. Longer files are cut because the top prior only
/// hears its last ~24 s anyway, and a whole song would cost memory for nothing.
pub fn read_prompt_file(
    path: Option<&Path>,
    keep_seconds: f64,
) -> Result<DecodedAudio, PromptFileError> {
    let path = path.ok_or(PromptFileError::NotChosen)?;
    let mut audio = read_audio_file(path)?;
    let frames = audio.channels.first().map_or(0, Vec::len);
    if frames == 0 {
        return Err(PromptFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    audio.keep_last(keep_seconds);
    Ok(audio)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_ramp(path: &Path, rate: u32, frames: usize) {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: rate,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut writer = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..frames {
            let value = i as f32 / frames as f32;
            writer.write_sample(value).unwrap();
            writer.write_sample(-value).unwrap();
        }
        writer.finalize().unwrap();
    }

    #[test]
    fn keeps_the_end_of_a_long_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("song.wav");
        write_ramp(&path, 1000, 3000);
        let audio = read_prompt_file(Some(&path), 1.0).unwrap();
        assert_eq!(audio.sample_rate, 1000);
        assert_eq!(audio.channels.len(), 2);
        assert_eq!(audio.channels[0].len(), 1000);
        assert_eq!(audio.channels[0][0], 2000.0 / 3000.0);
        assert_eq!(*audio.channels[1].last().unwrap(), -2999.0 / 3000.0);
    }

    #[test]
    fn a_short_file_is_kept_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.wav");
        write_ramp(&path, 1000, 500);
        assert_eq!(
            read_prompt_file(Some(&path), 30.0).unwrap().channels[0].len(),
            500
        );
    }

    #[test]
    fn missing_choices_and_files_are_errors_in_words() {
        assert!(matches!(
            read_prompt_file(None, 10.0),
            Err(PromptFileError::NotChosen)
        ));
        let error = read_prompt_file(Some(Path::new("/nonexistent/clip.wav")), 10.0).unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/clip.wav"),
            "{error}"
        );
    }
}
