//! Checking a model folder for the editor: manifest, files present with the right sizes,
//! priors for every level, and ONNX Runtime to run them. Never panics: whatever is wrong
//! becomes [`ModelStatus::Unusable`] with the reason and what to do.

use std::path::{Path, PathBuf};

use crate::engine::labels;
use crate::jukebox::Manifest;
use crate::jukebox::manifest::Verify;

use super::session::{ModelInfo, ModelStatus};

/// The model folder used when the project names none.
pub const MODEL_DIR_ENV: &str = "ENCORE_MODEL_DIR";

/// The folder to load at activate: the project's, else `ENCORE_MODEL_DIR`.
pub fn default_model_dir(saved: Option<&Path>) -> Option<PathBuf> {
    model_dir_from(saved, std::env::var_os(MODEL_DIR_ENV))
}

/// The saved folder, else the environment's (`env`: the variable's value, if set and not empty).
fn model_dir_from(saved: Option<&Path>, env: Option<std::ffi::OsString>) -> Option<PathBuf> {
    saved
        .map(Path::to_path_buf)
        .or_else(|| env.filter(|d| !d.is_empty()).map(PathBuf::from))
}

/// Reads and checks `dir`. `runtime`: `Err(reason)` when ONNX Runtime is not loaded.
pub fn check_model(dir: &Path, runtime: Result<(), String>) -> ModelStatus {
    let unusable = |reason: String| {
        tracing::warn!("model folder {}: {reason}", dir.display());
        ModelStatus::Unusable {
            dir: dir.to_path_buf(),
            reason,
        }
    };
    if !dir.is_dir() {
        return unusable(format!(
            "{} is not a folder: choose the folder an export wrote (it holds manifest.json)",
            dir.display()
        ));
    }
    let manifest = match Manifest::load(dir) {
        Ok(manifest) => manifest,
        Err(error) => return unusable(error.to_string()),
    };
    if let Err(error) = manifest.verify_files(dir, Verify::Sizes) {
        return unusable(error.to_string());
    }
    let levels = manifest.vqvae.levels;
    if levels == 0 || (0..levels).any(|level| manifest.prior(level).is_none()) {
        return unusable(
            "the folder has no priors for every level (exported with --vqvae-only?): export \
             the whole model"
                .into(),
        );
    }
    if let Err(reason) = runtime {
        return unusable(format!("ONNX Runtime is not available: {reason}"));
    }
    ModelStatus::Ready(model_info(dir, &manifest))
}

fn model_info(dir: &Path, manifest: &Manifest) -> ModelInfo {
    let top = manifest.vqvae.levels - 1;
    let names = |vocabulary| labels::display_names(manifest, vocabulary);
    ModelInfo {
        dir: dir.to_path_buf(),
        name: manifest.model.name.clone(),
        artists: names(&manifest.vocabularies.artists),
        genres: names(&manifest.vocabularies.genres),
        max_genres: manifest.labels.max_nb_genres,
        has_lyrics: manifest.prior(top).is_some_and(|p| p.lyrics.is_some()),
        max_song_seconds: manifest.labels.max_duration_s,
        // Replaced by the device choice once ONNX Runtime is loaded (see the worker).
        device: "not chosen yet: ONNX Runtime is not loaded".into(),
        sample_rate: manifest.audio.sample_rate,
        hop_lengths: manifest.vqvae.hop_lengths.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .join(name)
    }

    #[test]
    fn a_tiny_model_is_ready_with_names_that_normalise_back() {
        let ModelStatus::Ready(info) = check_model(&model("tiny-5b"), Ok(())) else {
            panic!("tiny-5b is not usable");
        };
        assert_eq!(info.name, "tiny-5b");
        assert!(!info.has_lyrics);
        assert_eq!(info.max_song_seconds, 600.0);
        let manifest = Manifest::load(&model("tiny-5b")).unwrap();
        for artist in &info.artists {
            labels::artist_id(&manifest, 2, Some(artist)).unwrap();
        }
        for genre in &info.genres {
            labels::genre_ids(&manifest, 2, std::slice::from_ref(genre)).unwrap();
        }
        let ModelStatus::Ready(lyrics) = check_model(&model("tiny-1b-lyrics"), Ok(())) else {
            panic!("tiny-1b-lyrics is not usable");
        };
        assert!(lyrics.has_lyrics);
        // Its vocabulary holds both tokenizer versions' keys for some ids: one name each.
        let manifest = Manifest::load(&model("tiny-1b-lyrics")).unwrap();
        let ids: std::collections::BTreeSet<_> = manifest.vocabularies.artists.values().collect();
        assert!(ids.len() < manifest.vocabularies.artists.len());
        assert_eq!(lyrics.artists.len(), ids.len(), "{:?}", lyrics.artists);
        for artist in &lyrics.artists {
            labels::artist_id(&manifest, 2, Some(artist)).unwrap();
        }
    }

    #[test]
    fn bad_folders_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let reason = |status: ModelStatus| match status {
            ModelStatus::Unusable { reason, .. } => reason,
            other => panic!("expected unusable, got {other:?}"),
        };
        let missing = reason(check_model(&dir.path().join("nope"), Ok(())));
        assert!(missing.contains("is not a folder"), "{missing}");
        let empty = reason(check_model(dir.path(), Ok(())));
        assert!(empty.contains("manifest.json"), "{empty}");
        std::fs::write(dir.path().join("manifest.json"), "{ not json").unwrap();
        let corrupt = reason(check_model(dir.path(), Ok(())));
        assert!(corrupt.contains("not a valid Encore manifest"), "{corrupt}");
        let no_runtime = reason(check_model(
            &model("tiny-5b"),
            Err("library not found".into()),
        ));
        assert!(no_runtime.contains("ONNX Runtime is not available: library not found"));
    }

    #[test]
    fn the_saved_folder_wins_over_the_environment() {
        let saved = Path::new("/saved");
        let env = || Some(std::ffi::OsString::from("/from-env"));
        assert_eq!(
            model_dir_from(Some(saved), env()),
            Some(saved.to_path_buf())
        );
        assert_eq!(
            model_dir_from(None, env()),
            Some(PathBuf::from("/from-env"))
        );
        assert_eq!(model_dir_from(None, Some("".into())), None);
        assert_eq!(model_dir_from(None, None), None);
    }
}
