//! The engine's updates on a job: the progress view, the takes' buffers, how the job ends.

use std::sync::Arc;

use super::sources;
use super::take_audio::{BufferShape, LiveTake};
use super::{Generations, JobContext, KeptPart, Prepared, forget_unfinished, report};
use crate::engine::{Event, JobEvent, JobId, JobUpdate, Settings as GenerationSettings};
use crate::plugin::request::JobClient;
use crate::plugin::session::{GenerationPhase, GenerationView, LevelProgress, ModelStatus};
use crate::plugin::stream_resampler::convert_frames;

/// Room in a take's buffer beyond the requested length (the engine rounds up to whole
/// top-level hops, a few milliseconds).
pub(super) const BUFFER_MARGIN_SECONDS: f64 = 1.0;

impl Generations {
    /// Handles one update. Returns true when a take's playback buffer appeared (the worker
    /// may have to hand it to the audio thread).
    pub fn handle(&mut self, event: JobEvent, ctx: &JobContext) -> bool {
        let JobEvent { job, update } = event;
        match update {
            JobUpdate::Queued { ahead } => {
                self.show(ctx, job, |v| v.phase = GenerationPhase::Queued { ahead });
            }
            JobUpdate::Started => self.show(ctx, job, |v| v.phase = GenerationPhase::Preparing),
            JobUpdate::Prepared {
                settings,
                prompt_samples,
                take_numbers,
                client,
            } => {
                let engine = EngineSetup {
                    settings,
                    prompt_samples,
                    take_numbers,
                };
                return self.prepared(ctx, job, engine, client);
            }
            JobUpdate::Engine(event) => self.engine_event(ctx, job, event),
        }
        false
    }
}

/// What the engine says of a prepared job.
struct EngineSetup {
    settings: GenerationSettings,
    prompt_samples: usize,
    take_numbers: Vec<usize>,
}

impl Generations {
    fn show(&self, ctx: &JobContext, job: JobId, update: impl FnOnce(&mut GenerationView)) {
        if self.shown != Some(job) {
            return;
        }
        if let Some(view) = ctx.shared.generation.write().as_mut()
            && view.job == job
        {
            update(view);
        }
    }

    fn prepared(
        &mut self,
        ctx: &JobContext,
        job: JobId,
        engine: EngineSetup,
        client: serde_json::Value,
    ) -> bool {
        let EngineSetup {
            settings,
            prompt_samples,
            take_numbers,
        } = engine;
        let Some(live) = self.live.get_mut(&job) else {
            return false;
        };
        let client: JobClient = match serde_json::from_value(client) {
            Ok(client) => client,
            Err(e) => {
                report(
                    ctx.shared,
                    format!(
                        "{} was not written by this plugin ({e}): not resuming it",
                        live.checkpoint.display()
                    ),
                );
                self.queue.cancel(job);
                return false;
            }
        };
        let host_rate = self.host_rate;
        let timeline_start = convert_frames(
            client.timeline_start,
            f64::from(client.sample_rate),
            f64::from(host_rate),
        );
        // A derived take's WAV starts where its first ancestor's continuation started: the
        // part it keeps of its parent, then its own.
        let origin = client
            .origin_samples
            .unwrap_or(prompt_samples)
            .min(prompt_samples);
        let kept_samples = prompt_samples - origin;
        let seconds = kept_samples as f64 / f64::from(client.model_rate.max(1)) + settings.seconds;
        let shape = BufferShape::of(timeline_start, seconds, host_rate);
        let session = ctx.shared.session.read();
        let kept = client
            .parent
            .as_ref()
            .filter(|_| kept_samples > 0)
            .and_then(|parent| session.take(parent.take))
            .map(|parent| KeptPart {
                parent: parent.clone(),
                samples: kept_samples,
                model_rate: client.model_rate,
            });
        let unfinished = session
            .unfinished
            .iter()
            .find(|u| u.checkpoint == live.checkpoint);
        let mut takes = Vec::with_capacity(client.take_ids.len());
        for &id in &client.take_ids {
            // Takes deleted since the project was saved stay deleted.
            if unfinished.is_some_and(|u| !u.take_ids.contains(&id)) {
                live.skipped.insert(id);
            }
            // Only the take that plays holds a buffer (memory stays bounded however many takes
            // a generation makes); the others are written as WAVs and loaded when chosen.
            let buffer = (session.chosen == Some(id))
                .then(|| Arc::new(shape.buffer(id, session.take(id), kept.as_ref(), host_rate)));
            takes.push(LiveTake {
                id,
                buffer,
                stream: None,
            });
        }
        drop(session);
        let view_takes = takes.len();
        let target_level = settings.target_level;
        live.prepared = Some(Prepared {
            client,
            settings,
            take_numbers,
            origin,
            seconds,
            kept,
            timeline_start,
            shape,
            takes,
        });
        self.show(ctx, job, |v| {
            v.phase = GenerationPhase::Running;
            v.takes = view_takes;
            v.target_level = target_level;
            v.timeline_start = timeline_start;
        });
        true
    }

    fn engine_event(&mut self, ctx: &JobContext, job: JobId, event: Event) {
        match event {
            Event::Device { device, reason } => {
                if let ModelStatus::Ready(info) = &mut *ctx.shared.model.write() {
                    info.device = format!("{device}: {reason}");
                }
            }
            Event::Checkpointed { .. } => {}
            Event::LevelStarted { level, total } => self.show(ctx, job, |v| {
                v.levels.retain(|l| l.level != level);
                v.levels.push(LevelProgress {
                    level,
                    done: 0,
                    total,
                    codes_per_second: 0.0,
                    eta_seconds: None,
                });
            }),
            Event::Progress {
                level,
                done,
                total,
                codes_per_second,
                eta,
            } => {
                // What the editor's cost estimates use (per take, at this batch).
                let batch = self
                    .live
                    .get(&job)
                    .and_then(|j| j.prepared.as_ref())
                    .map_or(1, |p| p.take_numbers.len());
                ctx.shared
                    .session
                    .write()
                    .speeds
                    .record(level, codes_per_second, batch);
                self.show(ctx, job, |v| {
                    if let Some(progress) = v.levels.iter_mut().find(|l| l.level == level) {
                        progress.done = done;
                        progress.total = total;
                        progress.codes_per_second = codes_per_second;
                        progress.eta_seconds = eta.map(|e| e.as_secs_f64());
                    }
                })
            }
            Event::Audio {
                take,
                level,
                start_sample,
                samples,
            } => {
                // Waveforms (plugin::waveform): the take's picture grows as it streams.
                self.feed_waveform(ctx, job, take, level, start_sample, &samples);
                self.stream_audio(job, take, level, start_sample, &samples)
            }
            Event::TakeFinished {
                take, level, audio, ..
            } => {
                if let Err(reason) = self.take_finished(ctx, job, take, level, &audio) {
                    report(ctx.shared, reason);
                }
            }
            Event::Finished => {
                self.show(ctx, job, |v| v.phase = GenerationPhase::Finished);
                if let Some(live) = self.live.remove(&job) {
                    // Its codes stay, for the takes' follow-ups.
                    if let Err(reason) = sources::keep_source(ctx, &live, false) {
                        report(ctx.shared, reason);
                    }
                }
            }
            Event::Cancelled => {
                self.show(ctx, job, |v| v.phase = GenerationPhase::Cancelled);
                // Stopped by deactivate: its checkpoint stays in the unfinished list and is
                // resumed at the next activation. Stopped by the user: forgotten, but the
                // levels it finished keep their codes for follow-ups.
                if let Some(live) = self.live.remove(&job)
                    && live.discard
                {
                    let kept = if live.wrote_level {
                        sources::keep_source(ctx, &live, true)
                    } else {
                        forget_unfinished(ctx.shared, &live.checkpoint);
                        Ok(())
                    };
                    if let Err(reason) = kept {
                        report(ctx.shared, reason);
                    }
                    let _ = std::fs::remove_file(&live.checkpoint);
                }
            }
            Event::Error(message) => {
                self.show(ctx, job, |v| {
                    v.phase = GenerationPhase::Failed(message.clone())
                });
                report(ctx.shared, format!("the generation failed: {message}"));
                if let Some(live) = self.live.remove(&job)
                    && !live.checkpoint.exists()
                {
                    // Nothing was saved: there is nothing to resume.
                    forget_unfinished(ctx.shared, &live.checkpoint);
                }
            }
        }
    }
}
