//! What one Continue asks the engine for: the engine's settings from the parameters and the
//! saved settings, and the plugin's own data kept in the generation's checkpoint.

use serde::{Deserialize, Serialize};

use crate::engine::Settings as GenerationSettings;

use super::params::{EncoreParams, TargetLevel};
use super::recordings::{Meter, PromptSelectError};
use super::session::TakeParent;
use super::settings::{LengthUnit, Settings};

/// Kept in the checkpoint (the engine's client data), so a resumed generation knows where its
/// takes go on the timeline and which ids they have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobClient {
    /// Host timeline position (samples at `sample_rate`) where the continuation starts.
    pub timeline_start: i64,
    pub sample_rate: f32,
    /// One per take (batch row).
    pub take_ids: Vec<u64>,
    /// Rate of the audio the engine sends.
    pub model_rate: u32,
    /// Where the takes' continuation starts in the song (samples at `model_rate`): the
    /// original prompt's end, before the part a derived take keeps of its parent. `None`: the
    /// generation's prompt end (a Continue).
    #[serde(default)]
    pub origin_samples: Option<usize>,
    /// Names of new takes, one per take id (empty: default names). Takes already in the list
    /// (an upsample) keep theirs.
    #[serde(default)]
    pub names: Vec<String>,
    /// The take new takes are derived from (Extend, Re-generate from here, Retry).
    #[serde(default)]
    pub parent: Option<TakeParent>,
}

/// The engine's settings for a Continue now. The length in bars needs the host's tempo.
pub fn generation_settings(
    params: &EncoreParams,
    settings: &Settings,
    meter: &Meter,
) -> Result<GenerationSettings, PromptSelectError> {
    let seconds = match settings.length_unit {
        LengthUnit::Seconds => f64::from(params.seconds.value()),
        LengthUnit::Bars => meter.bars_to_seconds(f64::from(settings.length_bars))?,
    };
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(PromptSelectError::BadLength(format!(
            "a continuation of {seconds} s"
        )));
    }
    let mut generation = GenerationSettings::new(seconds, continue_seed(settings));
    generation.takes = params.takes.value().max(1) as usize;
    generation.target_level = target_level(params);
    let artist = settings.artist.trim();
    generation.artist = (!artist.is_empty()).then(|| artist.to_string());
    generation.genres = settings
        .genres
        .iter()
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty())
        .collect();
    generation.lyrics = settings.lyrics.clone();
    generation.temperature = Some(params.temperature.value());
    // 0 switches the filter off.
    let top_k = params.top_k.value();
    generation.top_k = (top_k > 0).then_some(top_k as usize);
    let top_p = params.top_p.value();
    generation.top_p = (top_p > 0.0).then_some(top_p);
    Ok(generation)
}

/// The level the `level` parameter asks for.
pub fn target_level(params: &EncoreParams) -> usize {
    match params.level.value() {
        TargetLevel::Preview => 2,
        TargetLevel::Level1 => 1,
        TargetLevel::Level0 => 0,
    }
}

/// The seed of a new request: the settings' seed, or a fresh one each time if they say so.
fn continue_seed(settings: &Settings) -> u64 {
    if settings.new_seed_each_time {
        fresh_seed()
    } else {
        settings.seed
    }
}

/// The engine's settings for a follow-up of a take made with `parent`: the same artist,
/// genres, lyrics and sampling, `seconds` of new audio in `takes` takes, the seed as a
/// Continue takes it (`retry`: never the parent's), to the level the `level` parameter asks.
pub fn follow_up_settings(
    params: &EncoreParams,
    settings: &Settings,
    parent: &GenerationSettings,
    seconds: f64,
    takes: usize,
    retry: bool,
) -> GenerationSettings {
    let mut seed = continue_seed(settings);
    while retry && seed == parent.seed {
        seed = fresh_seed();
    }
    GenerationSettings {
        seconds,
        takes: takes.max(1),
        target_level: target_level(params),
        seed,
        ..parent.clone()
    }
}

/// A seed nobody chose: the clock's nanoseconds, mixed.
fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    // splitmix64's finaliser, so close clocks give unrelated seeds.
    let mut z = nanos.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::capture::TimeSignature;

    #[test]
    fn parameters_and_settings_become_the_engine_settings() {
        let params = EncoreParams::default();
        let settings = Settings {
            artist: " artist 1 ".into(),
            genres: vec!["genre 2".into(), " ".into()],
            lyrics: "la la".into(),
            seed: 42,
            new_seed_each_time: false,
            ..Settings::default()
        };
        let generation = generation_settings(&params, &settings, &Meter::default()).unwrap();
        assert_eq!(generation.seconds, f64::from(params.seconds.value()));
        assert_eq!(generation.takes, 3);
        // Previews by default: the takes are upsampled once the user likes one.
        assert_eq!(generation.target_level, 2);
        assert_eq!(generation.artist.as_deref(), Some("artist 1"));
        assert_eq!(generation.genres, ["genre 2"]);
        assert_eq!(generation.lyrics, "la la");
        assert_eq!(generation.seed, 42);
        assert_eq!(generation.temperature, Some(params.temperature.value()));
        // Top-k and top-p at 0 are off.
        assert_eq!((generation.top_k, generation.top_p), (None, None));
    }

    #[test]
    fn a_fresh_seed_each_time_and_lengths_in_bars() {
        let params = EncoreParams::default();
        let settings = Settings {
            length_unit: LengthUnit::Bars,
            length_bars: 4.0,
            new_seed_each_time: true,
            ..Settings::default()
        };
        let no_tempo = generation_settings(&params, &settings, &Meter::default());
        assert_eq!(no_tempo.unwrap_err(), PromptSelectError::NoTempo);
        let meter = Meter {
            tempo_bpm: Some(120.0),
            time_signature: Some(TimeSignature {
                numerator: 4,
                denominator: 4,
            }),
        };
        let first = generation_settings(&params, &settings, &meter).unwrap();
        let second = generation_settings(&params, &settings, &meter).unwrap();
        // 4 bars of 4/4 at 120 bpm.
        assert_eq!(first.seconds, 8.0);
        assert_ne!(first.seed, second.seed);
    }

    #[test]
    fn the_client_data_round_trips_through_json() {
        let client = JobClient {
            timeline_start: 132_608,
            sample_rate: 48_000.0,
            take_ids: vec![4, 5],
            model_rate: 44_100,
            origin_samples: Some(88_200),
            names: vec!["Take 1 · +2.0 s".into(), "Take 1 · +2.0 s (2)".into()],
            parent: Some(TakeParent {
                take: 1,
                name: "Take 1".into(),
                derivation: crate::plugin::session::Derivation::Extended,
            }),
        };
        let json = serde_json::to_value(&client).unwrap();
        assert_eq!(serde_json::from_value::<JobClient>(json).unwrap(), client);
    }
}
