//! The prompt a Continue sends (recordings or a file) and where its continuation goes.

use super::Worker;
use crate::audio::DecodedAudio;
use crate::plugin::prompt_file::read_prompt_file;
use crate::plugin::recordings::KEEP_SECONDS;
use crate::plugin::settings::{PromptSource, Settings};
use crate::plugin::stream_resampler::convert_frames;

/// A prompt ready for the engine.
pub(super) struct Prompt {
    pub audio: DecodedAudio,
    pub seconds: f64,
    /// Host timeline position (samples at the current rate) where the continuation starts.
    pub end: i64,
}

impl Worker {
    /// The prompt's audio, and where on the timeline (host samples) the continuation goes.
    pub(super) fn prompt(
        &self,
        settings: &Settings,
        playhead: Option<i64>,
    ) -> Result<Prompt, String> {
        if settings.prompt == PromptSource::File {
            let audio = read_prompt_file(settings.prompt_file.as_deref(), KEEP_SECONDS)
                .map_err(|e| e.to_string())?;
            let frames = audio.channels.first().map_or(0, Vec::len);
            // A file has no place on the timeline: its continuation goes at the playhead.
            let end = playhead
                .or_else(|| self.recorder.latest().map(|r| r.end()))
                .unwrap_or(0);
            return Ok(Prompt {
                seconds: frames as f64 / f64::from(audio.sample_rate.max(1)),
                audio,
                end,
            });
        }
        let clip = self
            .recorder
            .select(&settings.prompt, playhead)
            .map_err(|e| e.to_string())?;
        // Recordings at another rate than now (before a rate change) are placed at this one.
        let end = convert_frames(
            clip.end,
            f64::from(clip.sample_rate),
            f64::from(self.sample_rate),
        );
        Ok(Prompt {
            seconds: (clip.end - clip.start) as f64 / f64::from(clip.sample_rate),
            audio: DecodedAudio {
                sample_rate: clip.sample_rate.round() as u32,
                channels: vec![clip.left, clip.right],
            },
            end,
        })
    }
}
