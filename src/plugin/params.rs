//! Host-visible parameters and the state saved with the project.
//!
//! Parameter ids are stable strings: renaming one breaks saved projects and automation.

use std::sync::Arc;

use nice_plug::prelude::*;
use parking_lot::RwLock;

use super::diagnostics::Diagnostics;
use super::session::Shared;
use super::settings::Settings;
use super::triggers::{Trigger, Triggers};

/// How generated audio meets the track's own signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum PlaybackMode {
    /// Generated audio is added to the input.
    Mix,
    /// Generated audio replaces the input while it plays.
    Replace,
}

/// How far down the Jukebox hierarchy a generation goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum TargetLevel {
    /// Level 2 only: a lo-fi preview, minutes sooner.
    #[name = "Preview (level 2)"]
    Preview,
    #[name = "Level 1"]
    Level1,
    #[name = "Full quality (level 0)"]
    Level0,
}

/// How far the `upsample` parameter takes the chosen take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum UpsampleTarget {
    #[name = "Level 1"]
    Level1,
    #[name = "Full quality (level 0)"]
    Level0,
}

impl UpsampleTarget {
    pub fn level(self) -> usize {
        match self {
            UpsampleTarget::Level1 => 1,
            UpsampleTarget::Level0 => 0,
        }
    }
}

pub const MAX_TAKES: i32 = 16;
pub const MAX_SECONDS: f32 = 180.0;

#[derive(Params)]
pub struct EncoreParams {
    /// A rising edge sends the prompt to the engine; automatable so a DAW can trigger it. This
    /// and the other triggers fire only on a press while processing, never on a restore
    /// (`triggers`).
    #[id = "continue"]
    pub continue_trigger: BoolParam,
    #[id = "seconds"]
    pub seconds: FloatParam,
    #[id = "takes"]
    pub takes: IntParam,
    #[id = "temperature"]
    pub temperature: FloatParam,
    #[id = "top_k"]
    pub top_k: IntParam,
    #[id = "top_p"]
    pub top_p: FloatParam,
    #[id = "level"]
    pub level: EnumParam<TargetLevel>,
    #[id = "playback"]
    pub playback: EnumParam<PlaybackMode>,
    /// A rising edge upsamples the chosen take to `upsample_to`, as the editor's Upsample does;
    /// automatable so a DAW can ask for it without the GUI. Appended after the parameters
    /// above, so their host indices stay.
    #[id = "upsample"]
    pub upsample_trigger: BoolParam,
    #[id = "upsample_to"]
    pub upsample_to: EnumParam<UpsampleTarget>,
    /// A rising edge continues the chosen take from its end by `extend_by` (a new take), as
    /// the editor's Extend does.
    #[id = "extend"]
    pub extend_trigger: BoolParam,
    #[id = "extend_by"]
    pub extend_by: FloatParam,
    /// A rising edge keeps the chosen take's first `regenerate_from` seconds and samples the
    /// rest anew (`takes` new takes), as the editor's Re-generate from here does.
    #[id = "regenerate"]
    pub regenerate_trigger: BoolParam,
    #[id = "regenerate_from"]
    pub regenerate_from: FloatParam,
    /// A rising edge asks for the chosen take's request again with a new seed.
    #[id = "retry"]
    pub retry_trigger: BoolParam,
    /// The host's bypass (VST3 `kIsBypass`, CLAP's bypass flag): the input passes through bit
    /// for bit, crossfaded at a switch (`plugin::bypass`). Last, so the indices above stay.
    #[id = "bypass"]
    pub bypass: BoolParam,

    #[persist = "settings"]
    pub settings: Arc<RwLock<Settings>>,
    #[persist = "diagnostics"]
    pub diagnostics: Arc<Diagnostics>,
    /// Takes and unfinished generations (saved), model and generation status (not saved).
    #[persist = "session"]
    pub shared: Arc<Shared>,

    /// The trigger parameters' presses, counted by their callbacks; saved so that a restore
    /// adopts them without firing (see `plugin::triggers`).
    #[persist = "triggers"]
    pub triggers: Arc<Triggers>,
}

/// A callback for a trigger parameter that counts its rising edges. Wait-free: it runs on the
/// audio thread when the host automates the parameter.
fn press_counter(triggers: &Arc<Triggers>, trigger: Trigger) -> Arc<dyn Fn(bool) + Send + Sync> {
    let triggers = triggers.clone();
    Arc::new(move |on: bool| {
        if on {
            triggers.press(trigger);
        }
    })
}

impl Default for EncoreParams {
    fn default() -> Self {
        let triggers = Arc::new(Triggers::default());
        Self {
            continue_trigger: BoolParam::new("Continue", false)
                .with_callback(press_counter(&triggers, Trigger::Continue)),
            seconds: FloatParam::new(
                "Length",
                20.0,
                FloatRange::Linear {
                    min: 1.0,
                    max: MAX_SECONDS,
                },
            )
            .with_step_size(0.5)
            .with_unit(" s"),
            takes: IntParam::new(
                "Takes",
                3,
                IntRange::Linear {
                    min: 1,
                    max: MAX_TAKES,
                },
            ),
            temperature: FloatParam::new(
                "Temperature",
                0.98,
                FloatRange::Linear { min: 0.5, max: 1.5 },
            )
            .with_step_size(0.01),
            top_k: IntParam::new("Top-k", 0, IntRange::Linear { min: 0, max: 2048 }),
            top_p: FloatParam::new("Top-p", 0.0, FloatRange::Linear { min: 0.0, max: 1.0 })
                .with_step_size(0.01),
            // Previews first: the user upsamples the take they like.
            level: EnumParam::new("Target level", TargetLevel::Preview),
            playback: EnumParam::new("Playback", PlaybackMode::Mix),
            upsample_trigger: BoolParam::new("Upsample chosen take", false)
                .with_callback(press_counter(&triggers, Trigger::Upsample)),
            upsample_to: EnumParam::new("Upsample to", UpsampleTarget::Level0),
            extend_trigger: BoolParam::new("Extend chosen take", false)
                .with_callback(press_counter(&triggers, Trigger::Extend)),
            extend_by: FloatParam::new(
                "Extend by",
                10.0,
                FloatRange::Linear {
                    min: 1.0,
                    max: MAX_SECONDS,
                },
            )
            .with_step_size(0.5)
            .with_unit(" s"),
            regenerate_trigger: BoolParam::new("Re-generate chosen take", false)
                .with_callback(press_counter(&triggers, Trigger::Regenerate)),
            regenerate_from: FloatParam::new(
                "Re-generate from",
                5.0,
                FloatRange::Linear {
                    min: 0.0,
                    max: MAX_SECONDS,
                },
            )
            .with_step_size(0.1)
            .with_unit(" s"),
            retry_trigger: BoolParam::new("Retry chosen take", false)
                .with_callback(press_counter(&triggers, Trigger::Retry)),
            bypass: BoolParam::new("Bypass", false).make_bypass(),
            settings: Arc::new(RwLock::new(Settings::default())),
            diagnostics: Arc::new(Diagnostics::default()),
            shared: Arc::new(Shared::default()),
            triggers,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use nice_plug::params::InternalParamMut;
    use nice_plug::plugin::ParamValue;

    use super::*;
    use crate::plugin::Encore;
    use crate::plugin::triggers::TriggerWatch;

    #[test]
    fn the_upsample_trigger_counts_rising_edges() {
        let params = EncoreParams::default();
        assert_eq!(params.level.value(), TargetLevel::Preview);
        assert_eq!(params.upsample_to.value(), UpsampleTarget::Level0);
        let mut watch = TriggerWatch::default();
        // SAFETY: no host and no audio thread exist in this test; the setter only stores atomics.
        unsafe {
            params.upsample_trigger._internal_set_plain_value(true);
            params.upsample_trigger._internal_set_plain_value(false);
            params.upsample_trigger._internal_set_plain_value(true);
        }
        assert_eq!(watch.fired(&params.triggers), [0, 2, 0, 0, 0]);
    }

    #[test]
    fn a_restore_keeps_the_trigger_values_and_adopts_old_states() {
        // Every value stays in the state (a restore gives them back); a state from before the
        // `triggers` field gets one, so that its restore adopts the presses it makes.
        let mut state = PluginState {
            version: String::new(),
            params: BTreeMap::from([
                ("extend".to_string(), ParamValue::Bool(true)),
                ("upsample_to".to_string(), ParamValue::I32(0)),
            ]),
            fields: BTreeMap::new(),
        };
        <Encore as Plugin>::filter_state(&mut state);
        assert_eq!(
            state.params.keys().collect::<Vec<_>>(),
            ["extend", "upsample_to"]
        );
        assert!(state.fields.contains_key("triggers"), "{:?}", state.fields);
        // A state that has the field keeps its own.
        state.fields.insert("triggers".into(), "saved".into());
        <Encore as Plugin>::filter_state(&mut state);
        assert_eq!(state.fields["triggers"], "saved");
    }
}
