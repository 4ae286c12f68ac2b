//! Draining the capture ring into the recordings, noticing the `continue` parameter's requests.

use std::sync::atomic::Ordering;

use super::Worker;
use crate::plugin::capture::BlockHeader;

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
            if header.continue_requests > 0 {
                self.continue_from_parameter(&header);
            }
            self.recorder.append(&header, &self.block);
        }
        // Waveforms (plugin::waveform): the editor's picture of the recording.
        self.shared
            .waveforms
            .follow_recording(self.recorder.latest());
    }

    fn continue_from_parameter(&mut self, header: &BlockHeader) {
        // Several rising edges in one block are one request.
        self.continue_generation(header.transport.position_samples);
    }
}
