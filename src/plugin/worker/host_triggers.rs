//! The follow-up trigger parameters (`upsample`, `extend`, `regenerate`, `retry`): the host
//! automates one, its callback counts the rising edge, the audio thread fires it (never on a
//! restore: `plugin::triggers`), and the worker turns new fired presses into the same command
//! the editor's button sends, for the chosen take.

use super::Worker;
use super::commands::WorkerCommand;
use crate::plugin::jobs;
use crate::plugin::params::EncoreParams;
use crate::plugin::triggers::Trigger;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HostTrigger {
    Upsample,
    Extend,
    Regenerate,
    Retry,
}

impl HostTrigger {
    const ALL: [HostTrigger; 4] = [
        HostTrigger::Upsample,
        HostTrigger::Extend,
        HostTrigger::Regenerate,
        HostTrigger::Retry,
    ];

    /// Presses of this trigger the audio thread fired so far.
    fn fired(self, params: &EncoreParams) -> u64 {
        let trigger = match self {
            HostTrigger::Upsample => Trigger::Upsample,
            HostTrigger::Extend => Trigger::Extend,
            HostTrigger::Regenerate => Trigger::Regenerate,
            HostTrigger::Retry => Trigger::Retry,
        };
        params.triggers.fired(trigger)
    }

    /// The editor's command for this trigger on `take`, with the trigger's own parameters.
    fn command(self, params: &EncoreParams, take: u64) -> WorkerCommand {
        match self {
            HostTrigger::Upsample => WorkerCommand::Upsample {
                take,
                level: params.upsample_to.value().level(),
            },
            HostTrigger::Extend => WorkerCommand::Extend {
                take,
                seconds: f64::from(params.extend_by.value()),
            },
            HostTrigger::Regenerate => WorkerCommand::RegenerateFrom {
                take,
                at_seconds: f64::from(params.regenerate_from.value()),
                takes: params.takes.value().max(1) as usize,
            },
            HostTrigger::Retry => WorkerCommand::Retry { take },
        }
    }

    fn verb(self) -> &'static str {
        match self {
            HostTrigger::Upsample => "upsample",
            HostTrigger::Extend => "extend",
            HostTrigger::Regenerate => "re-generate",
            HostTrigger::Retry => "retry",
        }
    }
}

/// The fired presses of each trigger the worker has acted on.
pub(super) struct HostTriggers {
    seen: [u64; 4],
}

impl HostTriggers {
    /// Presses fired before the worker existed are not requests.
    pub fn new(params: &EncoreParams) -> Self {
        Self {
            seen: HostTrigger::ALL.map(|t| t.fired(params)),
        }
    }

    /// The triggers fired since the last look, in a fixed order; several presses of one
    /// trigger make one request.
    pub fn risen(&mut self, params: &EncoreParams) -> Vec<HostTrigger> {
        let mut risen = Vec::new();
        for (trigger, seen) in HostTrigger::ALL.into_iter().zip(&mut self.seen) {
            let fired = trigger.fired(params);
            if fired != *seen {
                *seen = fired;
                risen.push(trigger);
            }
        }
        risen
    }
}

impl Worker {
    /// Acts on the trigger parameters the host raised since the last look.
    pub(super) fn watch_host_triggers(&mut self) {
        let params = self.links.params.clone();
        for trigger in self.host_triggers.risen(&params) {
            let chosen = self.shared.session.read().chosen;
            match chosen {
                Some(take) => self.handle(trigger.command(&params, take)),
                None => jobs::report(
                    &self.shared,
                    format!("cannot {}: no take is chosen", trigger.verb()),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use nice_plug::params::InternalParamMut;

    use super::*;
    use crate::plugin::triggers::TriggerWatch;

    #[test]
    fn each_trigger_becomes_its_command_once_per_look() {
        let params = EncoreParams::default();
        let mut triggers = HostTriggers::new(&params);
        assert!(triggers.risen(&params).is_empty());
        // SAFETY: no host and no audio thread exist in this test; the setters store atomics.
        unsafe {
            params.extend_by._internal_set_plain_value(12.5);
            params.regenerate_from._internal_set_plain_value(3.0);
            params.extend_trigger._internal_set_plain_value(true);
            params.regenerate_trigger._internal_set_plain_value(true);
            params.regenerate_trigger._internal_set_plain_value(false);
            params.regenerate_trigger._internal_set_plain_value(true);
        }
        assert!(
            triggers.risen(&params).is_empty(),
            "only the audio thread fires"
        );
        TriggerWatch::default().fired(&params.triggers);
        let risen = triggers.risen(&params);
        assert_eq!(risen, [HostTrigger::Extend, HostTrigger::Regenerate]);
        assert!(triggers.risen(&params).is_empty(), "an edge acts once");
        assert_eq!(
            HostTrigger::Extend.command(&params, 4),
            WorkerCommand::Extend {
                take: 4,
                seconds: 12.5
            }
        );
        assert_eq!(
            HostTrigger::Regenerate.command(&params, 4),
            WorkerCommand::RegenerateFrom {
                take: 4,
                at_seconds: 3.0,
                takes: 3
            }
        );
    }
}
