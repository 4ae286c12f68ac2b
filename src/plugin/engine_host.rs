//! The process-wide engine: one job queue shared by every Encore instance in the process,
//! started on first use, so a model folder is opened once however many instances use it and
//! stays open across activations and between jobs. Each instance takes its own client of it
//! (its jobs take turns with the other instances'). The queue ends when the last instance
//! leaves it; one whose thread died is replaced by the next instance that asks.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::engine::{DevicePreference, JobQueue, Runtime};

static QUEUE: Mutex<Weak<JobQueue>> = Mutex::new(Weak::new());

/// The process's job queue, started now if no instance holds one (or the one held died), its
/// sessions on `intra_threads` ONNX Runtime threads (the instance that starts it decides).
pub fn shared_queue(runtime: &'static Runtime, intra_threads: usize) -> Arc<JobQueue> {
    let mut slot = QUEUE.lock();
    if let Some(queue) = slot.upgrade()
        && queue.failure().is_none()
    {
        return queue;
    }
    // CUDA when it works, else the CPU; the engine says which and why (Event::Device).
    let queue = Arc::new(JobQueue::start_on(
        runtime,
        Some(intra_threads.max(1)),
        DevicePreference::Auto,
    ));
    *slot = Arc::downgrade(&queue);
    queue
}
