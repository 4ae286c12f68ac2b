//! Working out what each level samples from the user's settings, and refusing settings the
//! model cannot take (typed errors, before anything runs).

use super::DEFAULT_SONG_SECONDS;
use super::Settings;
use crate::engine::error::EngineError;
use crate::engine::labels;
use crate::engine::sampler::SamplingParams;
use crate::engine::windows::{LevelRequest, SongLabels, hop_length};
use crate::jukebox::Manifest;

/// What one level samples: labels, window hop, sampling rule, length.
pub(super) struct LevelPlan {
    pub labels: SongLabels,
    pub request: LevelRequest,
}

/// Checks the settings against the model and works out every level's labels and request.
pub(super) fn plan(
    manifest: &Manifest,
    settings: &Settings,
    prompt_samples: usize,
) -> Result<Vec<LevelPlan>, EngineError> {
    let invalid = |m: String| Err(EngineError::InvalidInput(m));
    let levels = manifest.vqvae.levels;
    let rate = f64::from(manifest.audio.sample_rate);
    if settings.takes == 0 {
        return invalid("at least one take is needed".into());
    }
    if settings.target_level >= levels {
        return invalid(format!(
            "level {} does not exist: the model has levels 0 (full quality) to {} (preview)",
            settings.target_level,
            levels - 1
        ));
    }
    if !settings.seconds.is_finite() {
        return invalid(format!(
            "the continuation's length must be a number of seconds (at most the model's {:.0} s \
             song), not {}",
            manifest.labels.max_duration_s, settings.seconds
        ));
    }
    if settings.seconds <= 0.0 {
        return invalid(format!(
            "the continuation must last more than 0 seconds, not {}",
            settings.seconds
        ));
    }
    let top_hop = manifest.vqvae.hop_lengths[levels - 1];
    let new_samples = ((settings.seconds * rate) / top_hop as f64).ceil() as usize * top_hop;
    let total_samples = prompt_samples + new_samples;
    let max_seconds = manifest.labels.max_duration_s;
    let song_seconds = total_samples as f64 / rate;
    if song_seconds >= max_seconds {
        return Err(EngineError::TooLong {
            seconds: song_seconds,
            max_seconds,
        });
    }
    let song_length = match settings.song_seconds {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            return invalid(format!("the song length must be positive, got {s} s"));
        }
        Some(s) => (s * rate) as i64,
        None => (DEFAULT_SONG_SECONDS * rate).max(total_samples as f64) as i64,
    };
    if song_length < total_samples as i64 {
        return invalid(format!(
            "the song length ({:.1} s) is shorter than prompt + continuation ({song_seconds:.1} s)",
            song_length as f64 / rate
        ));
    }
    let top = manifest
        .prior(levels - 1)
        .ok_or_else(|| EngineError::MissingGraph {
            what: "top-level prior".into(),
        })?;
    let lyrics = labels::lyric_ids(manifest, &settings.lyrics);
    if top.lyrics.is_none() && !settings.lyrics.trim().is_empty() {
        return invalid(format!(
            "model {} takes no lyrics: leave them out or use a lyrics model",
            manifest.model.name
        ));
    }
    let defaults = &manifest.sampling;
    (0..levels)
        .map(|level| {
            let spec = manifest
                .prior(level)
                .ok_or_else(|| EngineError::MissingGraph {
                    what: format!("prior for level {level}"),
                })?;
            let artist = labels::artist_id(manifest, level, settings.artist.as_deref())?;
            let genres = labels::genre_ids(manifest, level, &settings.genres)?;
            let params = SamplingParams {
                temperature: settings
                    .temperature
                    .or_else(|| defaults.temperature.get(level).copied())
                    .unwrap_or(1.0),
                top_k: settings.top_k.unwrap_or(defaults.top_k),
                top_p: settings.top_p.unwrap_or(defaults.top_p),
            };
            params.validate()?;
            let fraction = defaults.hop_fraction.get(level).copied().unwrap_or(0.5);
            let labels = SongLabels {
                artist: vec![artist; settings.takes],
                genres: vec![genres; settings.takes],
                total_length: song_length,
                offset: 0,
                lyrics: if level == levels - 1 {
                    lyrics.clone()
                } else {
                    Vec::new()
                },
            };
            if spec.conditioning.timing {
                let [lo, hi] = spec.conditioning.total_length_range;
                if song_length >= hi {
                    return Err(EngineError::TooLong {
                        seconds: song_length as f64 / rate,
                        max_seconds: hi as f64 / rate,
                    });
                }
                if song_length < lo {
                    return Err(EngineError::InvalidInput(format!(
                        "the song length ({:.1} s) is below the model's minimum of {:.1} s",
                        song_length as f64 / rate,
                        lo as f64 / rate
                    )));
                }
            }
            Ok(LevelPlan {
                labels,
                request: LevelRequest {
                    total: total_samples / spec.raw_to_tokens,
                    hop: hop_length(spec.music_ctx, fraction).max(1),
                    params,
                },
            })
        })
        .collect()
}
