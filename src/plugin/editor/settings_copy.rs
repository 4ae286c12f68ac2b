//! The editor edits a copy of [`Settings`] and writes back only the fields the user changed in
//! this frame, so a field the worker or the host wrote meanwhile (the model folder saved by
//! Load, a restored project) is never overwritten with a stale value.

use parking_lot::RwLock;

use super::super::settings::Settings;

/// Reads the shared settings into `copy` (one short read lock).
pub fn read_into(copy: &mut Settings, shared: &RwLock<Settings>) {
    let current = shared.read();
    if *copy != *current {
        copy.clone_from(&current);
    }
}

/// Writes the fields that differ between `before` and `after` (one short write lock, only when
/// something changed).
pub fn write_changes(before: &Settings, after: &Settings, shared: &RwLock<Settings>) {
    if before == after {
        return;
    }
    let mut target = shared.write();
    // Every field the editor can change; the rest are left alone.
    macro_rules! copy_changed {
        ($($field:ident),* $(,)?) => {
            $(if before.$field != after.$field {
                target.$field = after.$field.clone();
            })*
        };
    }
    copy_changed!(
        ort_library,
        model_dir,
        takes_dir,
        artist,
        genres,
        lyrics,
        seed,
        new_seed_each_time,
        length_unit,
        length_bars,
        prompt,
        prompt_file,
        model_idle_minutes,
        engine_threads,
    );
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn only_the_fields_changed_here_are_written() {
        let shared = RwLock::new(Settings::default());
        let mut copy = Settings::default();
        read_into(&mut copy, &shared);
        let before = copy.clone();
        copy.lyrics = "la la".into();
        // Meanwhile the worker saves the model folder.
        shared.write().model_dir = Some(PathBuf::from("/models/jukebox"));
        write_changes(&before, &copy, &shared);
        let now = shared.read().clone();
        assert_eq!(now.lyrics, "la la");
        assert_eq!(now.model_dir, Some(PathBuf::from("/models/jukebox")));
    }
}
