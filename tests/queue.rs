//! The job queue on tiny-5b (one CPU thread per session): order, exactly one end per job,
//! cancel of queued and running jobs, errors as updates, resume through the queue; clients
//! that share the queue take turns; models and priors are opened once and released when idle.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{chord, settings};
use encore::engine::{
    Checkpoint, Event, Job, JobEvent, JobId, JobInput, JobQueue, JobUpdate, ModelCounts,
    QueueClient, Settings,
};
use encore::jukebox::manifest::Verify;

fn queue() -> JobQueue {
    JobQueue::start(common::runtime(), Some(1))
}

fn prompt_job(settings: Settings, checkpoint: Option<&Path>) -> Job {
    Job {
        model_dir: common::model_dir("tiny-5b"),
        input: JobInput::Prompt {
            prompt: chord(44_100, 0.5),
            settings,
        },
        checkpoint_path: checkpoint.map(Path::to_path_buf),
        client: serde_json::json!({ "mine": true }),
        verify: Verify::Sizes,
    }
}

/// A quick job: a level-2 preview of 0.2 s.
fn short_job(seed: u64) -> Job {
    prompt_job(settings(0.2, seed, 1, 2), None)
}

/// Anything that hands out a job's updates: the queue's own, or one client's.
trait Updates {
    fn receiver(&self) -> &crossbeam_channel::Receiver<JobEvent>;
}

impl Updates for JobQueue {
    fn receiver(&self) -> &crossbeam_channel::Receiver<JobEvent> {
        self.events()
    }
}

impl Updates for QueueClient {
    fn receiver(&self) -> &crossbeam_channel::Receiver<JobEvent> {
        self.events()
    }
}

/// The next update, or a panic if none comes for a long while.
fn next(queue: &impl Updates) -> JobEvent {
    queue
        .receiver()
        .recv_timeout(Duration::from_secs(300))
        .expect("the queue went silent")
}

/// Updates until every job of `jobs` has ended.
fn until_ended(queue: &impl Updates, jobs: &[JobId], mut seen: Vec<JobEvent>) -> Vec<JobEvent> {
    while !jobs
        .iter()
        .all(|job| seen.iter().any(|e| e.job == *job && e.update.is_end()))
    {
        seen.push(next(queue));
    }
    seen
}

fn updates(events: &[JobEvent], job: JobId) -> Vec<&JobUpdate> {
    events
        .iter()
        .filter(|e| e.job == job)
        .map(|e| &e.update)
        .collect()
}

/// Position of the first update of `job` matching `what`.
fn position(events: &[JobEvent], job: JobId, what: impl Fn(&JobUpdate) -> bool) -> usize {
    events
        .iter()
        .position(|e| e.job == job && what(&e.update))
        .unwrap_or_else(|| panic!("job {job}: no such update in {events:#?}"))
}

/// Every job has exactly one end, and nothing after it.
fn assert_one_end_each(events: &[JobEvent], jobs: &[JobId]) {
    for &job in jobs {
        let updates = updates(events, job);
        let ends = updates.iter().filter(|u| u.is_end()).count();
        assert_eq!(ends, 1, "job {job}: {updates:#?}");
        assert!(updates.last().unwrap().is_end(), "job {job}: {updates:#?}");
    }
}

fn ended_with(events: &[JobEvent], job: JobId) -> &JobUpdate {
    updates(events, job).into_iter().last().unwrap()
}

const FINISHED: JobUpdate = JobUpdate::Engine(Event::Finished);
const CANCELLED: JobUpdate = JobUpdate::Engine(Event::Cancelled);

#[test]
fn jobs_run_in_order_and_each_ends_once() {
    let queue = queue();
    let jobs: Vec<JobId> = (0..3).map(|seed| queue.submit(short_job(seed))).collect();
    let events = until_ended(&queue, &jobs, Vec::new());
    assert_one_end_each(&events, &jobs);
    for (ahead, &job) in jobs.iter().enumerate() {
        let updates = updates(&events, job);
        assert_eq!(updates[0], &JobUpdate::Queued { ahead }, "job {job}");
        assert_eq!(updates[1], &JobUpdate::Started, "job {job}");
        assert_eq!(ended_with(&events, job), &FINISHED, "job {job}");
        assert!(updates.iter().any(|u| matches!(u,
            JobUpdate::Prepared { settings, client, .. }
                if settings.seed == ahead as u64 && client["mine"] == true)));
        assert!(
            updates
                .iter()
                .any(|u| matches!(u, JobUpdate::Engine(Event::TakeFinished { level: 2, .. })))
        );
    }
    for pair in jobs.windows(2) {
        let first_end = position(&events, pair[0], JobUpdate::is_end);
        let next_start = position(&events, pair[1], |u| *u == JobUpdate::Started);
        assert!(
            first_end < next_start,
            "job {} overlapped the one before",
            pair[1]
        );
    }
    assert_eq!(queue.running(), None);
    assert!(queue.queued().is_empty());
}

#[test]
fn a_job_cancelled_while_queued_never_runs() {
    let queue = queue();
    let first = queue.submit(prompt_job(settings(0.3, 1, 1, 1), None));
    let cancelled = queue.submit(short_job(2));
    let last = queue.submit(short_job(3));
    assert!(queue.cancel(cancelled));
    assert!(
        !queue.cancel(cancelled),
        "a job that is over was cancelled again"
    );
    // The first job may still be waiting for the worker to take it (a loaded machine): only the
    // cancelled one must be gone from the queue.
    let queued: Vec<_> = queue
        .queued()
        .into_iter()
        .filter(|&job| job != first)
        .collect();
    assert_eq!(queued, [last]);
    let events = until_ended(&queue, &[first, cancelled, last], Vec::new());
    assert_one_end_each(&events, &[first, cancelled, last]);
    assert_eq!(
        updates(&events, cancelled),
        [&JobUpdate::Queued { ahead: 1 }, &CANCELLED]
    );
    assert_eq!(ended_with(&events, first), &FINISHED);
    assert_eq!(ended_with(&events, last), &FINISHED);
    assert!(
        position(&events, first, JobUpdate::is_end)
            < position(&events, last, |u| *u == JobUpdate::Started)
    );
}

/// The running job stops within a step when cancelled (its checkpoint shows the level it was
/// in, unfinished), the next job then runs, and resuming the saved checkpoint through the
/// queue gives the codes of an uninterrupted run.
#[test]
fn a_cancelled_running_job_stops_and_resumes_through_the_queue_to_the_same_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (part, whole) = (dir.path().join("part.json"), dir.path().join("whole.json"));
    let request = settings(0.4, 11, 2, 0);
    let queue = queue();
    let running = queue.submit(prompt_job(request.clone(), Some(&part)));
    let after = queue.submit(short_job(5));

    // Cancel as soon as level 0 has sampled something: the longest level (four times level
    // 1's codes), so the cancel lands inside it however fast the levels above ran.
    let mut events = Vec::new();
    let cancelled_at = loop {
        let event = next(&queue);
        let in_level_1 = event.job == running
            && matches!(
                event.update,
                JobUpdate::Engine(Event::Progress { level: 0, done, .. }) if done > 0
            );
        events.push(event);
        if in_level_1 {
            assert!(queue.cancel(running));
            break Instant::now();
        }
    };
    while !events.iter().any(|e| e.job == running && e.update.is_end()) {
        events.push(next(&queue));
    }
    // One step of a tiny prior takes milliseconds; a level transition (decode, checkpoint)
    // a little more. Seconds would mean the cancel waited for more than a step.
    let latency = cancelled_at.elapsed();
    assert!(latency < Duration::from_secs(3), "{latency:?}");
    let events = until_ended(&queue, &[running, after], events);
    assert_one_end_each(&events, &[running, after]);
    assert_eq!(ended_with(&events, running), &CANCELLED);
    let end = position(&events, running, JobUpdate::is_end);
    let saved = Checkpoint::load(&part).unwrap();
    assert!(!saved.state.done);
    assert_eq!(
        saved.state.level, 0,
        "the cancel was not answered within level 0"
    );
    assert_eq!(ended_with(&events, after), &FINISHED);
    assert!(end < position(&events, after, |u| *u == JobUpdate::Started));

    let resumed = queue.submit(Job {
        model_dir: PathBuf::from("ignored for a resume"),
        input: JobInput::Resume {
            checkpoint: part.clone(),
        },
        checkpoint_path: Some(part.clone()),
        client: serde_json::Value::Null,
        verify: Verify::Sizes,
    });
    let uninterrupted = queue.submit(prompt_job(request, Some(&whole)));
    let events = until_ended(&queue, &[resumed, uninterrupted], Vec::new());
    assert_one_end_each(&events, &[resumed, uninterrupted]);
    assert_eq!(ended_with(&events, resumed), &FINISHED);
    assert_eq!(ended_with(&events, uninterrupted), &FINISHED);
    // The resumed job kept the client data of the checkpoint.
    assert!(updates(&events, resumed).iter().any(|u| matches!(u,
        JobUpdate::Prepared { client, .. } if client["mine"] == true)));
    let (resumed, whole) = (
        Checkpoint::load(&part).unwrap(),
        Checkpoint::load(&whole).unwrap(),
    );
    assert!(resumed.state.done && whole.state.done);
    assert!(whole.state.finished.iter().all(Option::is_some));
    assert_eq!(resumed.state.finished, whole.state.finished);
}

#[test]
fn failures_are_error_updates_and_the_queue_goes_on() {
    let queue = queue();
    let mut bad_model = short_job(1);
    bad_model.model_dir = PathBuf::from("/nonexistent/model");
    let bad_model = queue.submit(bad_model);
    let missing = queue.submit(Job {
        input: JobInput::Resume {
            checkpoint: PathBuf::from("/nonexistent/gen.json"),
        },
        ..short_job(1)
    });
    let mut too_long = short_job(1);
    if let JobInput::Prompt { settings, .. } = &mut too_long.input {
        settings.seconds = 900.0;
    }
    let too_long = queue.submit(too_long);
    let fine = queue.submit(short_job(2));
    let jobs = [bad_model, missing, too_long, fine];
    let events = until_ended(&queue, &jobs, Vec::new());
    assert_one_end_each(&events, &jobs);
    for (job, says) in [
        (bad_model, "/nonexistent/model"),
        (missing, "/nonexistent/gen.json"),
        (too_long, "at most"),
    ] {
        let JobUpdate::Engine(Event::Error(message)) = ended_with(&events, job) else {
            panic!("job {job}: {:#?}", updates(&events, job));
        };
        assert!(message.contains(says), "{message}");
        assert_eq!(message.lines().count(), 1, "{message}");
        assert!(
            !updates(&events, job)
                .iter()
                .any(|u| matches!(u, JobUpdate::Prepared { .. })),
            "job {job} was prepared"
        );
    }
    assert_eq!(ended_with(&events, fine), &FINISHED);
}

#[test]
fn clients_take_turns_whatever_order_they_submitted_in() {
    let queue = Arc::new(queue());
    let (busy, other) = (queue.client(), queue.client());
    // Hold the queue with a running job, so every client job below waits.
    let holder = queue.submit(prompt_job(settings(0.3, 9, 1, 1), None));
    let mut holder_events = Vec::new();
    while !holder_events
        .iter()
        .any(|e: &JobEvent| e.update == JobUpdate::Started)
    {
        holder_events.push(next(&*queue));
    }
    let busy_jobs: Vec<JobId> = (0..3).map(|seed| busy.submit(short_job(seed))).collect();
    let other_job = other.submit(short_job(7));
    assert_eq!(
        queue.queued(),
        [busy_jobs[0], other_job, busy_jobs[1], busy_jobs[2]]
    );
    let busy_events = until_ended(&busy, &busy_jobs, Vec::new());
    let other_events = until_ended(&other, &[other_job], Vec::new());
    until_ended(&*queue, &[holder], holder_events);
    assert_one_end_each(&busy_events, &busy_jobs);
    assert_one_end_each(&other_events, &[other_job]);
    // Each client hears of its own jobs only.
    assert!(busy_events.iter().all(|e| busy_jobs.contains(&e.job)));
    assert!(other_events.iter().all(|e| e.job == other_job));
    // The other client's single job waited for the running one and one of the busy client's.
    assert_eq!(
        updates(&other_events, other_job)[0],
        &JobUpdate::Queued { ahead: 2 }
    );
    assert_eq!(
        updates(&busy_events, busy_jobs[2])[0],
        &JobUpdate::Queued { ahead: 3 }
    );
}

#[test]
fn models_and_priors_open_once_for_every_client_and_job() {
    let queue = Arc::new(queue());
    let clients = [queue.client(), queue.client()];
    for round in 0..2 {
        let jobs: Vec<(usize, JobId)> = clients
            .iter()
            .enumerate()
            .map(|(c, client)| (c, client.submit(short_job(round * 2 + c as u64))))
            .collect();
        for (c, job) in jobs {
            let events = until_ended(&clients[c], &[job], Vec::new());
            assert_eq!(ended_with(&events, job), &FINISHED);
        }
    }
    // Four level-2 previews: the model opened once, its top prior once.
    assert_eq!(
        queue.model_counts(),
        ModelCounts {
            models_opened: 1,
            priors_opened: 1,
            models_released: 0
        }
    );
}

/// A generation on priors kept open from an earlier one gives the codes a fresh model gives.
#[test]
fn a_generation_on_kept_priors_samples_what_a_fresh_model_samples() {
    let codes_of = |events: &[JobEvent]| -> Vec<(usize, Vec<i64>)> {
        events
            .iter()
            .filter_map(|e| match &e.update {
                JobUpdate::Engine(Event::TakeFinished { level, codes, .. }) => {
                    Some((*level, codes.clone()))
                }
                _ => None,
            })
            .collect()
    };
    let request = || prompt_job(settings(0.3, 21, 2, 0), None);
    let warm = queue();
    let first = warm.submit(prompt_job(settings(0.5, 3, 1, 0), None));
    let again = warm.submit(request());
    let events = until_ended(&warm, &[first, again], Vec::new());
    assert_eq!(warm.model_counts().priors_opened, 3);
    let fresh = queue();
    let only = fresh.submit(request());
    let fresh_events = until_ended(&fresh, &[only], Vec::new());
    let (warm_codes, fresh_codes) = (
        codes_of(&updates_of(&events, again)),
        codes_of(&fresh_events),
    );
    assert_eq!(warm_codes.len(), 6, "two takes at three levels");
    assert_eq!(warm_codes, fresh_codes);
}

fn updates_of(events: &[JobEvent], job: JobId) -> Vec<JobEvent> {
    events.iter().filter(|e| e.job == job).cloned().collect()
}

#[test]
fn an_idle_model_is_released_and_opened_again_when_needed() {
    let queue = queue();
    let first = queue.submit(short_job(1));
    until_ended(&queue, &[first], Vec::new());
    assert_eq!(queue.model_counts().models_released, 0);
    queue.set_idle_release(Duration::from_millis(50));
    let deadline = Instant::now() + Duration::from_secs(30);
    while queue.model_counts().models_released == 0 {
        assert!(
            Instant::now() < deadline,
            "the idle model was never released"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = queue.submit(short_job(2));
    let events = until_ended(&queue, &[second], Vec::new());
    assert_eq!(ended_with(&events, second), &FINISHED);
    assert_eq!(queue.model_counts().models_opened, 2);
}

#[test]
fn a_client_that_goes_away_cancels_its_own_jobs_only() {
    let queue = Arc::new(queue());
    let (leaving, staying) = (queue.client(), queue.client());
    let holder = staying.submit(prompt_job(settings(0.3, 9, 1, 1), None));
    let gone = leaving.submit(short_job(1));
    let kept = staying.submit(short_job(2));
    drop(leaving);
    assert!(!queue.queued().contains(&gone));
    let events = until_ended(&staying, &[holder, kept], Vec::new());
    assert_eq!(ended_with(&events, holder), &FINISHED);
    assert_eq!(ended_with(&events, kept), &FINISHED);
}
