//! Continue requests: check the model, reserve take ids and a checkpoint, submit the generation.

use std::path::PathBuf;

use super::Worker;
use crate::jukebox::Manifest;
use crate::plugin::jobs::report;
use crate::plugin::request::{JobClient, generation_settings};
use crate::plugin::session::{ModelStatus, Unfinished};
use crate::plugin::takes;

impl Worker {
    /// Starts a generation from the prompt before `playhead`; failures go to `last_error`.
    /// True when it started.
    pub(super) fn continue_generation(&mut self, playhead: Option<i64>) -> bool {
        match self.try_continue(playhead) {
            Ok(()) => true,
            Err(message) => {
                report(&self.shared, format!("cannot continue: {message}"));
                false
            }
        }
    }

    /// The model folder a Continue would use, or why there is none to use.
    pub(super) fn model_for_continue(&self) -> Result<PathBuf, String> {
        if self.generations.is_none() {
            return Err(format!(
                "ONNX Runtime is not available: {}",
                self.runtime_error
            ));
        }
        match &*self.shared.model.read() {
            ModelStatus::Ready(info) => Ok(info.dir.clone()),
            ModelStatus::Unusable { reason, .. } => Err(reason.clone()),
            ModelStatus::Loading(_) | ModelStatus::NotSet => {
                Err("choose a model folder first".into())
            }
        }
    }

    fn try_continue(&mut self, playhead: Option<i64>) -> Result<(), String> {
        let model_dir = self.model_for_continue()?;
        let model_rate = Manifest::load(&model_dir)
            .map_err(|e| e.to_string())?
            .audio
            .sample_rate;
        let settings = self.links.params.settings.read().clone();
        let clip = self.prompt(&settings, playhead)?;
        let generation = generation_settings(&self.links.params, &settings, &self.recorder.meter())
            .map_err(|e| e.to_string())?;
        self.ensure_instance_id();
        let takes_dir = self.takes_dir();
        let checkpoints = takes::checkpoints_folder(&takes_dir);
        takes::create_folder(&checkpoints).map_err(|e| e.to_string())?;
        let take_ids = self.reserve_take_ids(generation.takes as u64);
        let checkpoint =
            takes::unused_checkpoint_path(&takes_dir, &format!("generation {}", take_ids[0]));
        let client = JobClient {
            timeline_start: clip.end,
            sample_rate: self.sample_rate,
            take_ids: take_ids.clone(),
            model_rate,
            origin_samples: None,
            names: Vec::new(),
            parent: None,
        };
        {
            let mut session = self.shared.session.write();
            session.unfinished.push(Unfinished {
                checkpoint: checkpoint.clone(),
                timeline_start: clip.end,
                sample_rate: self.sample_rate,
                take_ids: take_ids.clone(),
            });
            // The new take plays as it is generated (and a Cancel brings back the one before).
            session.choose_generating(take_ids.first().copied());
        }
        self.timeline_stale = true;
        tracing::info!(
            "continue: {:.2} s of prompt, the continuation at {}, {:.2} s x {} takes to level \
             {}, seed {}",
            clip.seconds,
            clip.end,
            generation.seconds,
            generation.takes,
            generation.target_level,
            generation.seed
        );
        if let Some(generations) = self.generations.as_mut() {
            generations.submit_new(
                &self.shared,
                &model_dir,
                clip.audio,
                generation,
                &client,
                checkpoint,
            );
        }
        Ok(())
    }

    /// `count` take ids never used before in this session (nor by a take in its list).
    pub(super) fn reserve_take_ids(&self, count: u64) -> Vec<u64> {
        self.shared.session.write().reserve_take_ids(count)
    }
}
