//! Finished generations' checkpoints kept as their takes' sources: the codes that Upsample,
//! Extend, Re-generate and Retry start from. They live in the checkpoints folder's `sources`
//! subfolder (the checkpoints folder itself holds only unfinished generations), and each is
//! deleted once no take in the list uses it.

use std::path::PathBuf;

use super::{JobContext, LiveJob};
use crate::engine::Checkpoint;
use crate::plugin::session::{SessionState, TakeSource};
use crate::plugin::takes;

/// Takes an ended job off the unfinished list and keeps its checkpoint as the source of its
/// takes: a finished one as it is; one the user cancelled after some level was written
/// (`stopped`) as a finished generation at the finest level it reached. Leaving the list and
/// getting the source happen in one write of the session, so nobody (the editor, a saved
/// project, a host polling the state) sees a job gone while its takes still lack their source.
/// The sources its takes had before (an upsample's take had its preview's) are deleted when no
/// take uses them any more.
pub(super) fn keep_source(ctx: &JobContext, live: &LiveJob, stopped: bool) -> Result<(), String> {
    let kept = move_to_sources(ctx, live, stopped);
    let mut session = ctx.shared.session.write();
    session
        .unfinished
        .retain(|u| u.checkpoint != live.checkpoint);
    let (Ok(Some(source)), Some(prepared)) = (&kept, &live.prepared) else {
        return kept.map(drop);
    };
    let mut replaced = Vec::new();
    for (&id, &number) in prepared.client.take_ids.iter().zip(&prepared.take_numbers) {
        if live.skipped.contains(&id) {
            continue;
        }
        let Some(take) = session.takes.iter_mut().find(|t| t.id == id) else {
            continue;
        };
        let new = TakeSource {
            checkpoint: source.clone(),
            number,
            origin_samples: Some(prepared.origin),
        };
        if let Some(old) = take.source.replace(new) {
            replaced.push(old.checkpoint);
        }
    }
    // Every take of the job deleted meanwhile: nobody needs the new source either.
    replaced.push(source.clone());
    release_unused_sources(&session, replaced);
    Ok(())
}

/// Moves the job's checkpoint into the sources folder; `None` when there is nothing worth
/// keeping (the job never started, or was stopped before any level was written).
fn move_to_sources(
    ctx: &JobContext,
    live: &LiveJob,
    stopped: bool,
) -> Result<Option<PathBuf>, String> {
    if live.prepared.is_none() {
        remove(&live.checkpoint);
        return Ok(None);
    }
    let folder = takes::sources_folder(ctx.takes_dir);
    takes::create_folder(&folder).map_err(|e| e.to_string())?;
    let name = live.checkpoint.file_name().unwrap_or_default();
    let source = folder.join(name);
    if stopped {
        let saved = Checkpoint::load(&live.checkpoint).map_err(|e| e.to_string())?;
        let Some(level) = saved.finest_finished_level() else {
            remove(&live.checkpoint);
            return Ok(None);
        };
        let finished = saved.stopped_after(level).map_err(|e| e.to_string())?;
        finished.save(&source).map_err(|e| e.to_string())?;
        remove(&live.checkpoint);
    } else {
        std::fs::rename(&live.checkpoint, &source).map_err(|e| {
            format!(
                "cannot keep {} as its takes' source: {e}",
                live.checkpoint.display()
            )
        })?;
    }
    Ok(Some(source))
}

/// Deletes each of `candidates` that no take in the list uses as its source.
pub fn release_unused_sources(session: &SessionState, candidates: Vec<PathBuf>) {
    for path in candidates {
        let used = session
            .takes
            .iter()
            .any(|t| t.source.as_ref().is_some_and(|s| s.checkpoint == path));
        if !used {
            remove(&path);
        }
    }
}

fn remove(path: &std::path::Path) {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!("cannot delete {}: {e}", path.display());
        }
        _ => {}
    }
}
