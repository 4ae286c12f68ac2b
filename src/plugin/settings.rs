//! Settings that are not automatable parameters but are saved with the project.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// ONNX Runtime library chosen by the user; `None` means "search the usual places".
    pub ort_library: Option<PathBuf>,
    /// Exported Jukebox model folder (holds `manifest.json`).
    pub model_dir: Option<PathBuf>,
    /// Where takes are written; `None`: an `Encore` folder in the user's music folder, one
    /// subfolder per plugin instance.
    pub takes_dir: Option<PathBuf>,
    /// Empty: the model's unknown artist.
    pub artist: String,
    pub genres: Vec<String>,
    pub lyrics: String,
    /// Seed for sampling; the same seed, settings and prompt give the same takes.
    pub seed: u64,
    /// Draw a fresh seed for every Continue (each take keeps the seed it was made with).
    pub new_seed_each_time: bool,
    /// Whether the length is set in seconds (the `seconds` parameter) or in bars.
    pub length_unit: LengthUnit,
    /// Length in bars at the host tempo, when `length_unit` is bars.
    pub length_bars: f32,
    /// Which captured audio becomes the prompt.
    pub prompt: PromptSource,
    /// The audio file read when `prompt` is [`PromptSource::File`] (kept when another source is
    /// picked, so switching back does not lose it).
    pub prompt_file: Option<PathBuf>,
    /// Minutes a model nobody uses stays loaded before its memory is given back (applies to
    /// every Encore instance in the process: they share one engine).
    pub model_idle_minutes: f32,
    /// Where the continuation starts: where Continue is pressed, or on the next beat or bar.
    pub start_at: StartAt,
    /// ONNX Runtime's intra-op threads (0: every physical core but one, leaving the host a
    /// core). Shared by every Encore in the process: the engine takes it when it starts.
    pub engine_threads: u32,
}

/// [`Settings::model_idle_minutes`] unless the user changes it.
pub const DEFAULT_MODEL_IDLE_MINUTES: f32 = 10.0;

impl Default for Settings {
    fn default() -> Self {
        Self {
            ort_library: None,
            model_dir: None,
            takes_dir: None,
            artist: String::new(),
            genres: Vec::new(),
            lyrics: String::new(),
            seed: 0,
            new_seed_each_time: true,
            length_unit: LengthUnit::Seconds,
            length_bars: 8.0,
            prompt: PromptSource::LastSeconds(12.0),
            prompt_file: None,
            model_idle_minutes: DEFAULT_MODEL_IDLE_MINUTES,
            start_at: StartAt::default(),
            engine_threads: 0,
        }
    }
}

/// The longest idle time honoured: a week is "never" in practice.
const MAX_MODEL_IDLE_MINUTES: f32 = 7.0 * 24.0 * 60.0;

impl Settings {
    /// [`Settings::engine_threads`] resolved: the default beside the host for 0, at most the
    /// machine's logical CPUs.
    pub fn intra_threads(&self) -> usize {
        let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
        match self.engine_threads {
            0 => crate::engine::threads::threads_beside_the_host(),
            n => (n as usize).min(logical),
        }
    }

    /// [`Settings::model_idle_minutes`] as a duration, whatever a project file holds (negative
    /// or NaN: at once; huge: a week).
    pub fn model_idle_release(&self) -> Duration {
        let minutes = self.model_idle_minutes.clamp(0.0, MAX_MODEL_IDLE_MINUTES);
        let minutes = if minutes.is_nan() { 0.0 } else { minutes };
        Duration::from_secs_f64(f64::from(minutes) * 60.0)
    }
}

/// Where on the host timeline a continuation starts (the prompt is what precedes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum StartAt {
    /// At the sample where Continue was pressed or automated.
    Now,
    /// On the next beat of the host's time signature.
    NextBeat,
    /// On the next bar line: a continuation off the downbeat is of little use in an
    /// arrangement.
    #[default]
    NextBar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LengthUnit {
    Seconds,
    Bars,
}

/// The prompt, relative to the recorded host timeline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum PromptSource {
    /// The last N seconds before the playhead.
    LastSeconds(f32),
    /// The last N bars before the playhead, at the host's tempo and time signature.
    LastBars(f32),
    /// From timeline position A to B, in seconds.
    Range {
        start_seconds: f64,
        end_seconds: f64,
    },
    /// The audio file in [`Settings::prompt_file`], whatever the host plays; the continuation
    /// follows the file's end. Works without a playing host (the standalone app).
    File,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_threads_default_to_every_core_but_one_and_a_choice_is_kept() {
        let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
        let auto = Settings::default().intra_threads();
        assert_eq!(auto, crate::engine::threads::threads_beside_the_host());
        assert!(
            auto >= 1 && (logical == 1 || auto < logical),
            "{auto} of {logical}"
        );
        let chosen = |n| {
            Settings {
                engine_threads: n,
                ..Settings::default()
            }
            .intra_threads()
        };
        assert_eq!(chosen(1), 1);
        assert_eq!(chosen(10_000), logical, "never more than the machine has");
        // A project saved before the setting existed gets the default.
        let old: Settings = serde_json::from_str(r#"{"seed": 3}"#).unwrap();
        assert_eq!(old.engine_threads, 0);
    }

    #[test]
    fn any_saved_idle_time_becomes_a_usable_duration() {
        let release = |minutes: f32| {
            Settings {
                model_idle_minutes: minutes,
                ..Settings::default()
            }
            .model_idle_release()
        };
        assert_eq!(
            Settings::default().model_idle_release(),
            Duration::from_secs(600)
        );
        assert_eq!(release(0.5), Duration::from_secs(30));
        assert_eq!(release(-3.0), Duration::ZERO);
        assert_eq!(release(f32::NAN), Duration::ZERO);
        assert_eq!(release(f32::MAX), Duration::from_secs(7 * 24 * 3600));
        assert_eq!(release(f32::INFINITY), Duration::from_secs(7 * 24 * 3600));
    }
}
