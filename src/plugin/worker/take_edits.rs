//! The editor's edits of the takes list: renaming a take (and its files), deleting one, and
//! cropping one into a new take.

use super::Worker;
use crate::plugin::jobs::release_unused_sources;
use crate::plugin::takes::{self, TakeError};

impl Worker {
    pub(super) fn rename(&mut self, id: u64, name: &str) -> Result<(), TakeError> {
        let name = takes::valid_name(name)?;
        let mut guard = self.shared.session.write();
        let session = &mut *guard;
        if session.takes.iter().any(|t| t.id != id && t.name == name) {
            return Err(TakeError::NameTaken { name });
        }
        let take = session
            .takes
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or(TakeError::NoSuchTake { id })?;
        let files = session.level_files.entry(id).or_default();
        takes::rename_files(take, files, &name)
    }

    /// A new take cut from take `id` (its files only read), listed after it.
    pub(super) fn crop(
        &mut self,
        id: u64,
        start_seconds: f64,
        end_seconds: f64,
    ) -> Result<(), TakeError> {
        let parent = self
            .shared
            .session
            .read()
            .take(id)
            .cloned()
            .ok_or(TakeError::NoSuchTake { id })?;
        let new_id = self.reserve_take_ids(1)[0];
        // The file is read and written without holding the session's lock.
        let crop = takes::crop_take(&parent, new_id, start_seconds, end_seconds)?;
        let mut session = self.shared.session.write();
        session.level_files.insert(new_id, vec![crop.file.clone()]);
        session.takes.push(crop);
        Ok(())
    }

    pub(super) fn delete(&mut self, id: u64) -> Result<(), TakeError> {
        if let Some(generations) = self.generations.as_mut() {
            generations.skip_take(id);
        }
        let mut session = self.shared.session.write();
        for entry in &mut session.unfinished {
            entry.take_ids.retain(|&t| t != id);
        }
        if session.chosen == Some(id) {
            session.chosen = None;
            self.timeline_stale = true;
        }
        let Some(index) = session.takes.iter().position(|t| t.id == id) else {
            return Ok(());
        };
        let take = session.takes.remove(index);
        let files = session.level_files.remove(&id).unwrap_or_default();
        // Its codes go with it unless another take of its generation still uses them. Its
        // children keep theirs: each has a source and files of its own.
        if let Some(source) = &take.source {
            release_unused_sources(&session, vec![source.checkpoint.clone()]);
        }
        drop(session);
        takes::delete_files(&take, &files)
    }
}
