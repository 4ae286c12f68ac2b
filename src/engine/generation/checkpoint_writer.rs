//! Checkpoints written off the sampling thread: a step hands the generation's state over and
//! goes on sampling while a thread of the generation's own serialises it and writes it
//! atomically (`Checkpoint::save`: temporary file, fsync, rename). A step never waits for the
//! disk. Only the newest state waiting counts: one not started yet is replaced by a newer one,
//! which supersedes it anyway. The generation waits for the writer only at its end (finished or
//! cancelled), where its caller reads the file. A checkpoint written comes back as the spare the
//! next one is copied into, so the copy reuses its memory (fresh pages for 100+ MB of codes cost
//! the step more than the copy itself).

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

use super::checkpoint::Checkpoint;
use crate::engine::error::EngineError;

#[derive(Default)]
struct Queue {
    /// The newest checkpoint not started yet.
    pending: Option<(PathBuf, Checkpoint)>,
    /// A write is under way.
    writing: bool,
    stop: bool,
    /// Writes finished since the owner last looked: the path written, or why it failed.
    done: Vec<Result<PathBuf, EngineError>>,
    /// The last checkpoint written, for the next one to be copied into.
    spare: Option<Checkpoint>,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    changed: Condvar,
}

pub(super) struct CheckpointWriter {
    shared: Arc<Shared>,
    /// Started with the first checkpoint.
    thread: Option<JoinHandle<()>>,
}

impl CheckpointWriter {
    pub fn new() -> Self {
        Self {
            shared: Arc::default(),
            thread: None,
        }
    }

    /// Hands `checkpoint` to the writer thread (started now if need be) and returns at once;
    /// the lock is held only to swap it in. A checkpoint still waiting is dropped for it.
    pub fn submit(&mut self, path: PathBuf, checkpoint: Checkpoint) {
        if self.thread.is_none() {
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name("encore-checkpoints".into())
                .spawn(move || write_loop(&shared));
            match spawned {
                Ok(thread) => self.thread = Some(thread),
                Err(e) => {
                    // No thread: write here rather than lose the checkpoint.
                    tracing::warn!("no checkpoint thread ({e}); writing on the sampling thread");
                    let result = checkpoint.save(&path).map(|()| path);
                    self.shared.queue.lock().done.push(result);
                    return;
                }
            }
        }
        let replaced = {
            let mut queue = self.shared.queue.lock();
            let replaced = queue.pending.replace((path, checkpoint));
            // A checkpoint never written becomes the spare (its memory is reused next time).
            match replaced {
                Some((_, old)) if queue.spare.is_none() => {
                    queue.spare = Some(old);
                    None
                }
                other => other,
            }
        };
        self.shared.changed.notify_all();
        // Freed outside the lock.
        drop(replaced);
    }

    /// The last checkpoint written, to copy the next one into (`None` before the first).
    pub fn take_spare(&self) -> Option<Checkpoint> {
        self.shared.queue.lock().spare.take()
    }

    /// The writes finished since the last look.
    pub fn finished(&self) -> Vec<Result<PathBuf, EngineError>> {
        std::mem::take(&mut self.shared.queue.lock().done)
    }

    /// Waits until everything handed over is on disk; returns the writes finished since the
    /// last look.
    pub fn flush(&self) -> Vec<Result<PathBuf, EngineError>> {
        let mut queue = self.shared.queue.lock();
        while self.thread.is_some() && (queue.pending.is_some() || queue.writing) {
            self.shared.changed.wait(&mut queue);
        }
        std::mem::take(&mut queue.done)
    }
}

impl Drop for CheckpointWriter {
    fn drop(&mut self) {
        // The checkpoint waiting is still written: it is the newest state there is.
        self.shared.queue.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn write_loop(shared: &Shared) {
    let mut queue = shared.queue.lock();
    loop {
        let Some((path, checkpoint)) = queue.pending.take() else {
            if queue.stop {
                return;
            }
            shared.changed.wait(&mut queue);
            continue;
        };
        queue.writing = true;
        drop(queue);
        let result = checkpoint.save(&path).map(|()| path);
        queue = shared.queue.lock();
        queue.writing = false;
        queue.done.push(result);
        queue.spare = Some(checkpoint);
        shared.changed.notify_all();
    }
}
