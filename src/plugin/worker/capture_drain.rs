//! Draining the capture ring into the recordings, noticing the `continue` parameter's requests
//! and the beat or bar line a Continue waits for.

use std::sync::atomic::Ordering;

use super::Worker;
use crate::plugin::capture::{BlockHeader, TransportSnapshot};
use crate::plugin::jobs::report;
use crate::plugin::start_line::{self, StartLineError, StartPlan};

impl Worker {
    pub(super) fn drain_capture(&mut self) {
        loop {
            self.block.clear();
            let Some(header) = self.capture.pop_block(&mut self.block) else {
                break;
            };
            self.diagnostics
                .received_frames
                .fetch_add(u64::from(header.frames), Ordering::Release);
            // The request was made at the block's start: the prompt is the audio before it.
            // Several rising edges in one block are one request.
            if header.continue_requests > 0 {
                self.request_continue(header.transport);
            }
            self.recorder.append(&header, &self.block);
            if header.frames > 0 {
                self.look_for_line(&header);
                self.last_block = Some(header);
            }
        }
        // Waveforms (plugin::waveform): the editor's picture of the recording.
        self.shared
            .waveforms
            .follow_recording(self.recorder.latest());
    }

    /// A Continue made at `transport` (the automated parameter at its block's start, or the
    /// editor's button at the playhead): starts now, or waits for the next beat or bar line.
    pub(super) fn request_continue(&mut self, transport: TransportSnapshot) {
        self.line_wait = None;
        if let Err(message) = self.model_for_continue() {
            report(&self.shared, format!("cannot continue: {message}"));
            return;
        }
        let start_at = self.links.params.settings.read().start_at;
        match start_line::plan(start_at, &transport) {
            Ok(StartPlan::At(sample)) => {
                self.continue_generation(Some(sample));
            }
            Ok(StartPlan::Wait(wait)) => {
                tracing::info!(
                    "continue: waiting for the {start_at:?} line at beat {:.3}",
                    wait.line_beats
                );
                self.line_wait = Some(wait);
                // The line may be in audio already received (the editor's press lags).
                if let Some(last) = self.last_block {
                    self.look_for_line(&last);
                }
            }
            Err(StartLineError::NoPosition) => {
                self.continue_generation(None);
            }
            Err(why) => {
                if self.continue_generation(transport.position_samples) {
                    report(&self.shared, why.to_string());
                }
            }
        }
    }

    /// Starts the waiting Continue once `block` reaches its line.
    fn look_for_line(&mut self, block: &BlockHeader) {
        let Some(wait) = self.line_wait.as_mut() else {
            return;
        };
        match wait.find_in(block) {
            Ok(None) => {}
            Ok(Some(sample)) => {
                self.line_wait = None;
                self.continue_generation(Some(sample));
            }
            Err(why) => {
                self.line_wait = None;
                report(&self.shared, format!("cannot continue: {why}"));
            }
        }
    }
}
