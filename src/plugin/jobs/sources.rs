//! Finished generations' checkpoints kept as their takes' sources: the codes that Upsample,
//! Extend, Re-generate and Retry start from. They live in the checkpoints folder's `sources`
//! subfolder (the checkpoints folder itself holds only unfinished generations), and each is
//! deleted once no take in the list uses it.

use std::path::PathBuf;

use super::{JobContext, LiveJob};
use crate::engine::Checkpoint;
use crate::plugin::session::{SessionState, TakeSource};
use crate::plugin::takes;

/// Keeps the checkpoint of a job that ended as the source of its takes: a finished one as it
/// is; one the user cancelled after some level was written (`stopped`) as a finished
/// generation at the finest level it reached. The sources its takes had before (an upsample's
/// take had its preview's) are deleted when no take uses them any more.
pub(super) fn keep_source(ctx: &JobContext, live: &LiveJob, stopped: bool) -> Result<(), String> {
    let Some(prepared) = &live.prepared else {
        remove(&live.checkpoint);
        return Ok(());
    };
    let folder = takes::sources_folder(ctx.takes_dir);
    takes::create_folder(&folder).map_err(|e| e.to_string())?;
    let name = live.checkpoint.file_name().unwrap_or_default();
    let source = folder.join(name);
    if stopped {
        let saved = Checkpoint::load(&live.checkpoint).map_err(|e| e.to_string())?;
        let Some(level) = saved.finest_finished_level() else {
            remove(&live.checkpoint);
            return Ok(());
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
    let mut session = ctx.shared.session.write();
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
    replaced.push(source);
    release_unused_sources(&session, replaced);
    Ok(())
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
