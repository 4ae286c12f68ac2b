//! The takes' streamed audio, handed to the editor's waveforms ([`crate::plugin::waveform`])
//! as it comes: the continuation only, at the model's rate.

use super::{Generations, JobContext};
use crate::engine::JobId;

impl Generations {
    pub(super) fn feed_waveform(
        &self,
        ctx: &JobContext,
        job: JobId,
        number: usize,
        level: usize,
        start: usize,
        samples: &[f32],
    ) {
        let Some(prepared) = self.live.get(&job).and_then(|j| j.prepared.as_ref()) else {
            return;
        };
        let Some(take) = prepared.row_of(number).map(|row| &prepared.takes[row]) else {
            return;
        };
        let prompt = prepared.origin;
        let skip = prompt.saturating_sub(start).min(samples.len());
        let at = start.saturating_sub(prompt) as u64;
        let rate = prepared.client.model_rate as f32;
        ctx.shared
            .waveforms
            .stream(take.id, level, at, &samples[skip..], rate);
    }
}
