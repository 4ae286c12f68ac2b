//! What a Continue or a take's follow-up will cost in time on this machine, said before the
//! user starts it: each level's last measured speed ([`LevelSpeeds`]) times the codes the audio
//! needs at that level.

use super::super::cost::LevelSpeeds;
use super::super::params::TargetLevel;
use super::super::session::{ModelInfo, ModelStatus};
use super::format::rough_duration;
use super::view::FrameView;

/// Jukebox's top level: every new take is sampled there first, then upsampled level by level.
pub const TOP_LEVEL: usize = 2;

/// Said instead of a time before a level ever ran on this machine.
pub const NOT_MEASURED: &str = "not measured yet";

/// The level a Continue (and a new take from a follow-up) goes down to.
pub fn target_level(level: TargetLevel) -> usize {
    match level {
        TargetLevel::Preview => 2,
        TargetLevel::Level1 => 1,
        TargetLevel::Level0 => 0,
    }
}

#[derive(Clone, Copy)]
pub struct Estimator<'a> {
    /// `None` until a model is loaded: nothing can be estimated without its hop lengths.
    model: Option<&'a ModelInfo>,
    speeds: &'a LevelSpeeds,
}

impl<'a> Estimator<'a> {
    pub fn new(view: &'a FrameView) -> Self {
        let model = match &view.model {
            ModelStatus::Ready(info) => Some(info),
            _ => None,
        };
        Self {
            model,
            speeds: &view.session.speeds,
        }
    }

    /// Seconds to sample `audio_seconds` at every level from `from` down to `to`, or `None`
    /// when one of them never ran here.
    pub fn levels(&self, from: usize, to: usize, audio_seconds: f64) -> Option<f64> {
        let model = self.model?;
        (to..=from)
            .map(|level| self.speeds.estimate_seconds(model, level, audio_seconds))
            .sum()
    }

    /// A new take of `audio_seconds`: the top level, then down to `to`.
    pub fn new_take(&self, to: usize, audio_seconds: f64) -> Option<f64> {
        self.levels(TOP_LEVEL, to, audio_seconds)
    }

    /// How each level was measured, for hover texts.
    pub fn measured(&self) -> String {
        let lines: Vec<String> = (0..=TOP_LEVEL)
            .rev()
            .map(|level| match self.speeds.levels[level] {
                Some(speed) => format!(
                    "level {level}: {:.0} codes/s per take, measured with {} at once",
                    speed.codes_per_second,
                    takes(speed.batch)
                ),
                None => format!("level {level}: {NOT_MEASURED}"),
            })
            .collect();
        format!(
            "Measured on this machine by the last generation at each level:\n{}\n\
             Takes sampled together cost about one take's time on a GPU, more on a CPU.",
            lines.join("\n")
        )
    }
}

/// "about 6 min", or that it is not known yet.
pub fn about(estimate: Option<f64>) -> String {
    match estimate {
        Some(seconds) => format!("about {}", rough_duration(seconds)),
        None => format!("time {NOT_MEASURED}"),
    }
}

/// What a Continue of `audio_seconds` down to `target` costs: the preview, then the rest.
pub fn continue_cost(estimator: &Estimator, audio_seconds: f64, target: usize) -> String {
    let Some(preview) = estimator.levels(TOP_LEVEL, TOP_LEVEL, audio_seconds) else {
        return format!("Time: {NOT_MEASURED} (the first generation measures it)");
    };
    let preview = format!("Time: about {} at level 2", rough_duration(preview));
    if target >= TOP_LEVEL {
        return preview;
    }
    match estimator.levels(TOP_LEVEL - 1, target, audio_seconds) {
        Some(rest) => format!(
            "{preview} · {} more to level {target}",
            rough_duration(rest)
        ),
        None => format!("{preview} · down to level {target}: {NOT_MEASURED}"),
    }
}

fn takes(count: usize) -> String {
    match count {
        1 => "1 take".into(),
        n => format!("{n} takes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelInfo {
        crate::plugin::cost::jukebox_rates()
    }

    #[test]
    fn a_continue_costs_its_preview_then_each_finer_level() {
        let model = model();
        let mut speeds = LevelSpeeds::default();
        let estimator = Estimator {
            model: Some(&model),
            speeds: &speeds,
        };
        assert_eq!(
            continue_cost(&estimator, 10.0, 0),
            "Time: not measured yet (the first generation measures it)"
        );
        // 10 s: 3445.3 codes at level 2, 13781.25 at level 1, 55125 at level 0.
        speeds.record(2, 344.53125, 3);
        let estimator = Estimator {
            model: Some(&model),
            speeds: &speeds,
        };
        assert_eq!(
            continue_cost(&estimator, 10.0, 2),
            "Time: about 10 s at level 2"
        );
        assert_eq!(
            continue_cost(&estimator, 10.0, 0),
            "Time: about 10 s at level 2 · down to level 0: not measured yet"
        );
        speeds.record(1, 137.8125, 3);
        speeds.record(0, 55.125, 3);
        let estimator = Estimator {
            model: Some(&model),
            speeds: &speeds,
        };
        // 100 s at level 1 and 1000 s at level 0.
        assert_eq!(
            continue_cost(&estimator, 10.0, 0),
            "Time: about 10 s at level 2 · 18 min more to level 0"
        );
        assert_eq!(estimator.levels(1, 1, 10.0), Some(100.0));
        assert_eq!(about(estimator.levels(1, 0, 10.0)), "about 18 min");
        assert_eq!(about(None), "time not measured yet");
        let no_model = Estimator {
            model: None,
            speeds: &speeds,
        };
        assert_eq!(no_model.new_take(2, 10.0), None);
    }
}
