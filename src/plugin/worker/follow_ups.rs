//! Per-take follow-ups (Upsample, Extend, Re-generate from here, Retry): each becomes a job in
//! the engine's queue like a Continue.
//!
//! A follow-up is a new generation made from the take's source (the finished generation that
//! holds its codes). It is saved as a checkpoint before it is queued, so a project saved at any
//! moment, even while the job waits, resumes it; the queue runs it as a resume, with progress,
//! cancel and checkpoints like any other. An upsample keeps its take (id, name): the new levels
//! replace its audio as they finish. The others make new takes, linked to their parent, each
//! a complete alternative to it: placed where the parent starts, its WAV the part it keeps of
//! the parent followed by its own audio.

use super::Worker;
use crate::engine::{Checkpoint, TakeCut, TakeSpan};
use crate::jukebox::Manifest;
use crate::plugin::jobs::report;
use crate::plugin::params::MAX_TAKES;
use crate::plugin::request::{JobClient, follow_up_settings};
use crate::plugin::session::{
    Derivation, GenerationPhase, GenerationView, LevelProgress, SessionState, Take, TakeParent,
    TakeSource, Unfinished,
};
use crate::plugin::start_line::snap_cut;
use crate::plugin::stream_resampler::convert_frames;
use crate::plugin::takes;

/// What every follow-up of a take starts from.
struct Base {
    take: Take,
    source: TakeSource,
    checkpoint: Checkpoint,
    manifest: Manifest,
    /// Where the take's continuation starts in its source's song (model samples).
    origin: usize,
}

impl Base {
    fn rate(&self) -> f64 {
        f64::from(self.manifest.audio.sample_rate)
    }

    /// The client data of a follow-up making (or remaking) takes `take_ids`.
    fn client(
        &self,
        take_ids: Vec<u64>,
        names: Vec<String>,
        parent: Option<TakeParent>,
    ) -> JobClient {
        JobClient {
            timeline_start: self.take.timeline_start,
            sample_rate: self.take.sample_rate,
            take_ids,
            model_rate: self.manifest.audio.sample_rate,
            origin_samples: Some(self.origin),
            names,
            parent,
        }
    }

    fn parent(&self, derivation: Derivation) -> TakeParent {
        TakeParent {
            take: self.take.id,
            name: self.take.name.clone(),
            derivation,
        }
    }

    fn cut(&self, at_seconds: Option<f64>) -> TakeCut {
        TakeCut {
            take: self.source.number,
            at_seconds,
        }
    }
}

impl Worker {
    pub(super) fn upsample_take(&mut self, take: u64, level: usize) {
        if let Err(message) = self.try_upsample(take, level) {
            report(&self.shared, format!("cannot upsample the take: {message}"));
        }
    }

    pub(super) fn extend_take(&mut self, take: u64, seconds: f64) {
        if let Err(message) = self.try_extend(take, seconds) {
            report(&self.shared, format!("cannot extend the take: {message}"));
        }
    }

    pub(super) fn regenerate_take(&mut self, take: u64, at_seconds: f64, takes: usize) {
        if let Err(message) = self.try_regenerate(take, at_seconds, takes) {
            report(
                &self.shared,
                format!("cannot re-generate the take: {message}"),
            );
        }
    }

    pub(super) fn retry_take(&mut self, take: u64) {
        if let Err(message) = self.try_retry(take) {
            report(&self.shared, format!("cannot retry the take: {message}"));
        }
    }

    fn try_upsample(&mut self, id: u64, level: usize) -> Result<(), String> {
        let base = self.follow_up_base(id)?;
        let take = &base.take;
        if level >= take.level {
            return Err(format!(
                "{} is at level {} already: upsample it to a finer level (0 is full quality)",
                take.name, take.level
            ));
        }
        let next = base
            .checkpoint
            .clone()
            .upsample(level, &[base.source.number])
            .map_err(|e| e.to_string())?;
        let client = base.client(vec![id], Vec::new(), None);
        tracing::info!("upsample: {} to level {level}", take.name);
        self.queue_follow_up(&base, &format!("upsample {id}"), next, client, false)
    }

    fn try_extend(&mut self, id: u64, seconds: f64) -> Result<(), String> {
        if !(seconds.is_finite() && seconds > 0.0) {
            return Err(format!(
                "extend by a positive number of seconds, not {seconds}"
            ));
        }
        let base = self.follow_up_base(id)?;
        let settings = self.links.params.settings.read().clone();
        let generation = follow_up_settings(
            &self.links.params,
            &settings,
            &base.take.settings,
            seconds,
            1,
            false,
        );
        let next = base
            .checkpoint
            .continue_take(&base.manifest, base.cut(None), generation)
            .map_err(|e| e.to_string())?;
        let name = derived_name(&base.take.name, &format!(" · +{seconds:.1} s"));
        self.derive(&base, next, &[name], Derivation::Extended)
    }

    fn try_regenerate(&mut self, id: u64, at_seconds: f64, count: usize) -> Result<(), String> {
        let base = self.follow_up_base(id)?;
        let rate = base.rate();
        let TakeSpan { end, .. } = base
            .checkpoint
            .take_span(&base.manifest, base.cut(None))
            .map_err(|e| e.to_string())?;
        let length = end.saturating_sub(base.origin) as f64 / rate;
        if !(at_seconds.is_finite() && at_seconds > 0.0 && at_seconds < length) {
            return Err(format!(
                "{} lasts {length:.1} s: re-generate from a point inside it, not {at_seconds:.2} s \
                 (Retry re-generates all of it, Extend continues it)",
                base.take.name
            ));
        }
        let at_seconds = self.snapped(&base.take, at_seconds, length);
        let song_seconds = base.origin as f64 / rate + at_seconds;
        let cut = base.cut(Some(song_seconds));
        let span = base
            .checkpoint
            .take_span(&base.manifest, cut)
            .map_err(|e| e.to_string())?;
        if span.at <= base.origin || span.at >= span.end {
            return Err(format!(
                "{:.2} s is too close to an end of {}: choose a point inside it",
                at_seconds, base.take.name
            ));
        }
        let kept = (span.at - base.origin) as f64 / rate;
        let seconds = (span.end - span.at) as f64 / rate;
        let count = count.clamp(1, MAX_TAKES as usize);
        let settings = self.links.params.settings.read().clone();
        let generation = follow_up_settings(
            &self.links.params,
            &settings,
            &base.take.settings,
            seconds,
            count,
            false,
        );
        let next = base
            .checkpoint
            .continue_take(&base.manifest, cut, generation)
            .map_err(|e| e.to_string())?;
        let stem = derived_name(&base.take.name, &format!(" · from {kept:.1} s"));
        let names: Vec<String> = match count {
            1 => vec![stem],
            _ => (1..=count).map(|n| format!("{stem} ({n})")).collect(),
        };
        self.derive(
            &base,
            next,
            &names,
            Derivation::RegeneratedFrom { seconds: kept },
        )
    }

    fn try_retry(&mut self, id: u64) -> Result<(), String> {
        let base = self.follow_up_base(id)?;
        let settings = self.links.params.settings.read().clone();
        let seconds = base.checkpoint.state.settings.seconds;
        let generation = follow_up_settings(
            &self.links.params,
            &settings,
            &base.take.settings,
            seconds,
            1,
            true,
        );
        let next = base
            .checkpoint
            .restart(generation)
            .map_err(|e| e.to_string())?;
        let name = derived_name(&base.take.name, " · retry");
        self.derive(&base, next, &[name], Derivation::Retried)
    }

    /// Queues `next`, which makes new takes named `names` (made unique in the list) derived
    /// from the base's take; the first of them plays as it is generated.
    fn derive(
        &mut self,
        base: &Base,
        next: Checkpoint,
        names: &[String],
        derivation: Derivation,
    ) -> Result<(), String> {
        // Refused before take ids are spent on it.
        next.fits(&base.manifest).map_err(|e| e.to_string())?;
        let ids = self.reserve_take_ids(names.len() as u64);
        let names = unique_names(&self.shared.session.read(), names);
        tracing::info!(
            "{derivation:?} of {}: {} ({} s, seed {})",
            base.take.name,
            names.join(", "),
            next.state.settings.seconds,
            next.state.settings.seed
        );
        let stem = format!("generation {}", ids[0]);
        let client = base.client(ids, names, Some(base.parent(derivation)));
        self.queue_follow_up(base, &stem, next, client, true)
    }

    /// The take, its source and the source's model: what every follow-up needs.
    fn follow_up_base(&self, id: u64) -> Result<Base, String> {
        if self.generations.is_none() {
            return Err(format!(
                "ONNX Runtime is not available: {}",
                self.runtime_error
            ));
        }
        let session = self.shared.session.read();
        let take = session
            .take(id)
            .cloned()
            .ok_or_else(|| format!("there is no take {id}"))?;
        if session.unfinished.iter().any(|u| u.take_ids.contains(&id)) {
            return Err(format!(
                "{} is still being generated: wait for it to finish (or cancel it)",
                take.name
            ));
        }
        drop(session);
        let source = take.source.clone().ok_or_else(|| {
            format!(
                "{} has no codes to start from (it was made by an older Encore, or its \
                 generation was cancelled before it finished a level)",
                take.name
            )
        })?;
        let checkpoint = Checkpoint::load(&source.checkpoint).map_err(|e| e.to_string())?;
        let manifest = Manifest::load(&checkpoint.model_dir).map_err(|e| {
            format!(
                "the model {} that made {} cannot be read: {e}",
                checkpoint.model_dir.display(),
                take.name
            )
        })?;
        let origin = source
            .origin_samples
            .unwrap_or(checkpoint.state.prompt_samples);
        Ok(Base {
            take,
            source,
            checkpoint,
            manifest,
            origin,
        })
    }

    /// Saves `next` (with `client`) as a new checkpoint named after `stem`, lists it as
    /// unfinished and queues it. `choose`: its first take plays as it is generated.
    fn queue_follow_up(
        &mut self,
        base: &Base,
        stem: &str,
        mut next: Checkpoint,
        client: JobClient,
        choose: bool,
    ) -> Result<(), String> {
        next.fits(&base.manifest).map_err(|e| e.to_string())?;
        next.state.client = serde_json::to_value(&client).map_err(|e| e.to_string())?;
        self.ensure_instance_id();
        let takes_dir = self.takes_dir();
        takes::create_folder(&takes::checkpoints_folder(&takes_dir)).map_err(|e| e.to_string())?;
        let path = takes::unused_checkpoint_path(&takes_dir, stem);
        next.save(&path).map_err(|e| e.to_string())?;
        let unfinished = Unfinished {
            checkpoint: path,
            timeline_start: client.timeline_start,
            sample_rate: client.sample_rate,
            take_ids: client.take_ids.clone(),
        };
        {
            let mut session = self.shared.session.write();
            session.unfinished.push(unfinished.clone());
            if choose {
                session.choose_generating(client.take_ids.first().copied());
            }
        }
        self.timeline_stale = true;
        let view = GenerationView {
            job: 0,
            phase: GenerationPhase::Queued { ahead: 0 },
            levels: finished_levels(&next),
            target_level: next.state.settings.target_level,
            takes: client.take_ids.len(),
            timeline_start: convert_frames(
                client.timeline_start,
                f64::from(client.sample_rate),
                f64::from(self.sample_rate),
            ),
        };
        if let Some(generations) = self.generations.as_mut() {
            generations.submit_follow_up(&self.shared, &unfinished, view);
        }
        Ok(())
    }

    /// A re-generate point snapped to the beat or bar the "Start at" setting asks for, from the
    /// last transport the audio thread saw (as given when the host sends no tempo).
    fn snapped(&self, take: &Take, at_seconds: f64, length: f64) -> f64 {
        let start_at = self.links.params.settings.read().start_at;
        let transport = self.diagnostics.last_transport();
        let take_start = convert_frames(
            take.timeline_start,
            f64::from(take.sample_rate),
            f64::from(transport.sample_rate),
        );
        snap_cut(start_at, &transport, take_start, at_seconds, length)
    }
}

/// The levels a follow-up has finished before it runs (an upsample's preview), as complete
/// rows of the progress view, top level first: the editor shows them done.
fn finished_levels(next: &Checkpoint) -> Vec<LevelProgress> {
    let state = &next.state;
    (0..state.finished.len())
        .rev()
        .filter_map(|level| {
            let rows = state.finished[level].as_ref()?;
            let prompt = state.prompt_codes.get(level).map_or(0, Vec::len);
            let total = rows.first().map_or(0, |r| r.len().saturating_sub(prompt));
            Some(LevelProgress {
                level,
                done: total,
                total,
                codes_per_second: 0.0,
                eta_seconds: Some(0.0),
            })
        })
        .collect()
}

/// The parent's name with `suffix`, the parent's part shortened (ending in "…") so that the
/// name stays renamable with room for " (12)" and a file's "-2": a take derived from a derived
/// take from a derived take... would otherwise outgrow `takes::LONGEST_NAME`.
fn derived_name(parent: &str, suffix: &str) -> String {
    let room = takes::LONGEST_NAME - DERIVED_NAME_SPARE - suffix.chars().count();
    if parent.chars().count() <= room {
        return format!("{parent}{suffix}");
    }
    let kept: String = parent.chars().take(room.saturating_sub(1)).collect();
    format!("{}…{suffix}", kept.trim_end())
}

/// Characters a derived name leaves free for " (12)" (`unique_names`).
const DERIVED_NAME_SPARE: usize = 8;

/// `names`, each made unique in the takes list and among themselves with " (2)", " (3)", ...
fn unique_names(session: &SessionState, names: &[String]) -> Vec<String> {
    let mut taken: Vec<String> = session.takes.iter().map(|t| t.name.clone()).collect();
    names
        .iter()
        .map(|name| {
            let unique = std::iter::once(name.clone())
                .chain((2..).map(|n| format!("{name} ({n})")))
                .find(|candidate| !taken.contains(candidate))
                .unwrap_or_else(|| name.clone());
            taken.push(unique.clone());
            unique
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_derived_again_and_again_stays_a_valid_name() {
        assert_eq!(derived_name("Take 2", " · retry"), "Take 2 · retry");
        let mut name = "Take 2".to_string();
        for round in 0..30 {
            name = derived_name(&name, &format!(" · from {round}.0 s"));
            takes::valid_name(&format!("{name} (12)")).unwrap();
        }
        assert!(
            name.ends_with(" · from 29.0 s") && name.contains('…'),
            "{name}"
        );
    }

    #[test]
    fn derived_names_never_repeat_a_take_in_the_list() {
        let mut session = SessionState::default();
        session.takes.push(Take {
            id: 1,
            name: "Take 1 · retry".into(),
            level: 2,
            file: "Take 1 · retry L2.wav".into(),
            timeline_start: 0,
            sample_rate: 48_000.0,
            frames: 48_000,
            batch_row: 0,
            settings: crate::engine::Settings::new(1.0, 1),
            source: None,
            parent: None,
        });
        assert_eq!(
            unique_names(
                &session,
                &["Take 1 · retry".into(), "Take 1 · retry".into()]
            ),
            ["Take 1 · retry (2)", "Take 1 · retry (3)"]
        );
        assert_eq!(unique_names(&session, &["Take 2".into()]), ["Take 2"]);
    }
}
