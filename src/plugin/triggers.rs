//! The trigger parameters (`continue`, `upsample`, `extend`, `regenerate`, `retry`): presses
//! the host makes while the plugin processes, and values a restored state gives back.
//!
//! Contract:
//! - A trigger's value is an ordinary parameter value: saved and restored like any other, so a
//!   restored state gives back every parameter (hosts and clap-validator check this).
//! - A press is a rising edge, counted by the parameter's callback wherever the value is set
//!   (an edge and its fall within one block still count): a sequence number per trigger.
//! - Only the audio thread fires a trigger, when its count changed since the last block it
//!   processed ([`TriggerWatch::fired`]). Follow-ups then reach the worker as counts the audio
//!   thread alone writes (`fired`); a Continue travels with the captured audio.
//! - A restore sets the values first (the callbacks count those edges too), then the
//!   `triggers` field (nice-plug restores fields after parameters), whose `set` adopts the saved
//!   counts: the audio thread takes them as seen without firing. States saved before this field
//!   existed get one added by `Encore::filter_state`, so every restore adopts.
//!
//! Hosts restore state on the main thread while the audio thread is not processing; a restore
//! that races a block may fire a trigger once (nothing worse: a press is a request).

use std::sync::atomic::{AtomicU64, Ordering};

use nice_plug::params::persist::PersistentField;
use serde::{Deserialize, Serialize};

/// The trigger parameters, in the order of their counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Continue,
    Upsample,
    Extend,
    Regenerate,
    Retry,
}

pub const TRIGGER_COUNT: usize = 5;

impl Trigger {
    pub const ALL: [Trigger; TRIGGER_COUNT] = [
        Trigger::Continue,
        Trigger::Upsample,
        Trigger::Extend,
        Trigger::Regenerate,
        Trigger::Retry,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// The presses counted so far and the restores that adopted them. Shared by the parameters'
/// callbacks (any thread), the audio thread and the worker; wait-free.
#[derive(Debug, Default)]
pub struct Triggers {
    /// Rising edges of each trigger's value (restores included).
    presses: [AtomicU64; TRIGGER_COUNT],
    /// States restored so far: each one adopts the presses counted by then.
    restores: AtomicU64,
    /// Presses the audio thread fired, per trigger; written by the audio thread only.
    fired: [AtomicU64; TRIGGER_COUNT],
}

/// The `triggers` field of a saved state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TriggerCounts {
    /// Presses of each trigger, in [`Trigger::ALL`]'s order.
    pub presses: [u64; TRIGGER_COUNT],
}

impl Triggers {
    /// Counts a rising edge of `trigger` (the parameter's callback). Wait-free.
    pub fn press(&self, trigger: Trigger) {
        self.presses[trigger.index()].fetch_add(1, Ordering::AcqRel);
    }

    /// How often the audio thread fired `trigger` so far.
    pub fn fired(&self, trigger: Trigger) -> u64 {
        self.fired[trigger.index()].load(Ordering::Acquire)
    }

    fn counts(&self) -> TriggerCounts {
        TriggerCounts {
            presses: Trigger::ALL.map(|t| self.presses[t.index()].load(Ordering::Acquire)),
        }
    }
}

impl<'a> PersistentField<'a, TriggerCounts> for std::sync::Arc<Triggers> {
    /// A restore: the saved counts become the current ones, adopted without firing.
    fn set(&self, restored: TriggerCounts) {
        for (count, saved) in self.presses.iter().zip(restored.presses) {
            count.store(saved, Ordering::Release);
        }
        // Release: an audio thread that sees this restore sees the counts above.
        self.restores.fetch_add(1, Ordering::AcqRel);
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&TriggerCounts) -> R,
    {
        f(&self.counts())
    }
}

/// The audio thread's view: the presses it has seen. Lives as long as the plugin instance
/// (not an activation): a press made while the plugin is inactive fires at the next block.
#[derive(Debug, Default)]
pub struct TriggerWatch {
    seen: [u64; TRIGGER_COUNT],
    seen_restores: u64,
}

impl TriggerWatch {
    /// Real-time safe. The presses of each trigger since the last call, by [`Trigger::ALL`]'s
    /// index; none after a restore (its counts are adopted). Follow-ups are published to the
    /// worker as `fired` counts here; the caller sends the Continue presses on.
    pub fn fired(&mut self, triggers: &Triggers) -> [u64; TRIGGER_COUNT] {
        let restores = triggers.restores.load(Ordering::Acquire);
        if restores != self.seen_restores {
            self.seen_restores = restores;
            self.seen = triggers.counts().presses;
            return [0; TRIGGER_COUNT];
        }
        let mut fired = [0; TRIGGER_COUNT];
        for trigger in Trigger::ALL {
            let i = trigger.index();
            let now = triggers.presses[i].load(Ordering::Acquire);
            fired[i] = now.wrapping_sub(self.seen[i]);
            self.seen[i] = now;
            if fired[i] > 0 {
                triggers.fired[i].fetch_add(fired[i], Ordering::AcqRel);
            }
        }
        fired
    }

    /// The presses of `trigger` in a result of [`TriggerWatch::fired`].
    pub fn of(fired: &[u64; TRIGGER_COUNT], trigger: Trigger) -> u64 {
        fired[trigger.index()]
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn presses_fire_once_and_a_restore_adopts_without_firing() {
        let triggers = Arc::new(Triggers::default());
        let mut watch = TriggerWatch::default();
        assert_eq!(watch.fired(&triggers), [0; TRIGGER_COUNT]);
        triggers.press(Trigger::Extend);
        triggers.press(Trigger::Extend);
        triggers.press(Trigger::Continue);
        let fired = watch.fired(&triggers);
        assert_eq!(TriggerWatch::of(&fired, Trigger::Extend), 2);
        assert_eq!(TriggerWatch::of(&fired, Trigger::Continue), 1);
        assert_eq!(triggers.fired(Trigger::Extend), 2);
        assert_eq!(
            watch.fired(&triggers),
            [0; TRIGGER_COUNT],
            "a press fires once"
        );

        // A restore: the values come back On (the callbacks count an edge), then the field.
        triggers.press(Trigger::Regenerate);
        triggers.set(TriggerCounts {
            presses: [7, 0, 3, 1, 0],
        });
        assert_eq!(
            watch.fired(&triggers),
            [0; TRIGGER_COUNT],
            "a restore never fires"
        );
        assert_eq!(triggers.fired(Trigger::Regenerate), 0);
        assert_eq!(triggers.counts().presses, [7, 0, 3, 1, 0]);
        // Presses after the restore fire again.
        triggers.press(Trigger::Retry);
        let fired = watch.fired(&triggers);
        assert_eq!(fired, [0, 0, 0, 0, 1]);
    }
}
