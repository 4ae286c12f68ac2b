//! The model folder's manifest: the committed tiny models load and verify, and every kind of
//! damage to a model folder is a typed error naming the file, never a panic.

mod common;

use std::fs;
use std::path::PathBuf;

use common::model_dir;
use encore::jukebox::HashCache;
use encore::jukebox::manifest::{Manifest, ManifestError, ModelKind, PriorKind, Verify};
use encore::jukebox::{GraphKind, Precision};

const TINY_MODELS: [(&str, ModelKind, PriorKind); 3] = [
    ("tiny-5b", ModelKind::FiveB, PriorKind::Top),
    (
        "tiny-5b-lyrics",
        ModelKind::FiveBLyrics,
        PriorKind::TopLyricsEncoder,
    ),
    (
        "tiny-1b-lyrics",
        ModelKind::OneBLyrics,
        PriorKind::TopLyricsPrefix,
    ),
];

/// A scratch copy of a tiny model that a test may damage.
fn scratch_copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let scratch = tempfile::tempdir().unwrap();
    let source = model_dir(name);
    let manifest = Manifest::load(&source).unwrap();
    let dest = scratch.path().join(name);
    fs::create_dir_all(&dest).unwrap();
    fs::copy(source.join("manifest.json"), dest.join("manifest.json")).unwrap();
    for listed in manifest.files(&source).unwrap() {
        let target = dest.join(listed.file);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::copy(source.join(listed.file), target).unwrap();
    }
    (scratch, dest)
}

#[test]
fn every_tiny_model_loads_and_its_files_match_their_hashes() {
    for (name, kind, top_kind) in TINY_MODELS {
        let dir = model_dir(name);
        let manifest = Manifest::load(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        manifest
            .verify_files(&dir, Verify::Hashes)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(manifest.model.kind, kind, "{name}");
        assert_eq!(manifest.vqvae.hop_lengths, [8, 32, 128], "{name}");
        for level in 0..3 {
            assert!(
                manifest
                    .graph(GraphKind::VqvaeEncoder, level, Precision::Fp32)
                    .is_some(),
                "{name} L{level}"
            );
            assert!(
                manifest
                    .graph(GraphKind::VqvaeDecoder, level, Precision::Fp32)
                    .is_some(),
                "{name} L{level}"
            );
        }
        let top = manifest
            .prior(2)
            .unwrap_or_else(|| panic!("{name} has no top prior"));
        assert_eq!(top.kind, top_kind, "{name}");
        for level in [0, 1] {
            let upsampler = manifest
                .prior(level)
                .unwrap_or_else(|| panic!("{name} L{level}"));
            assert_eq!(upsampler.kind, PriorKind::Upsampler);
        }
        for level in 0..3 {
            for graph in [
                GraphKind::PriorConditioning,
                GraphKind::PriorPrefill,
                GraphKind::PriorStep,
            ] {
                assert!(
                    manifest.graph(graph, level, Precision::Fp32).is_some(),
                    "{name} {graph} L{level}"
                );
            }
        }
    }
}

#[test]
fn an_unknown_format_version_is_rejected_with_advice() {
    let (_scratch, dir) = scratch_copy("tiny-5b");
    let path = dir.join("manifest.json");
    let text = fs::read_to_string(&path).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["format_version"] = 99.into();
    fs::write(&path, json.to_string()).unwrap();
    let error = Manifest::load(&dir).unwrap_err();
    assert!(matches!(error, ManifestError::UnsupportedVersion { ref found, .. } if found == "99"));
    assert!(error.to_string().contains("re-export"), "{error}");
}

#[test]
fn a_format_1_model_is_refused_with_what_changed() {
    let (_scratch, dir) = scratch_copy("tiny-5b");
    let path = dir.join("manifest.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    json["format_version"] = 1.into();
    fs::write(&path, json.to_string()).unwrap();
    let error = Manifest::load(&dir).unwrap_err().to_string();
    assert!(error.contains("format 3 prior graphs"), "{error}");
    assert!(error.contains("re-export"), "{error}");
}

#[test]
fn a_missing_manifest_or_graph_file_is_named() {
    let (_scratch, dir) = scratch_copy("tiny-5b");
    let manifest = Manifest::load(&dir).unwrap();
    let victim = dir.join(&manifest.graphs[0].file);
    fs::remove_file(&victim).unwrap();
    match manifest.verify_files(&dir, Verify::Sizes) {
        Err(ManifestError::MissingFile { path }) => assert_eq!(path, victim),
        other => panic!("expected MissingFile, got {other:?}"),
    }
    fs::remove_file(dir.join("manifest.json")).unwrap();
    assert!(matches!(
        Manifest::load(&dir),
        Err(ManifestError::Io { .. })
    ));
}

#[test]
fn a_truncated_or_corrupted_graph_is_detected() {
    let (_scratch, dir) = scratch_copy("tiny-5b");
    let manifest = Manifest::load(&dir).unwrap();
    let victim = dir.join(&manifest.graphs[0].file);
    let mut bytes = fs::read(&victim).unwrap();

    // Same size, one bit flipped: only the hash can tell, and the load check hashes a file it
    // has not checked before.
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    fs::write(&victim, &bytes).unwrap();
    let cache = HashCache::at(dir.join("verified.json"));
    assert!(matches!(
        manifest.verify_files_with(&dir, Verify::Sizes, &cache),
        Err(ManifestError::HashMismatch { .. })
    ));
    assert!(matches!(
        manifest.verify_files(&dir, Verify::Hashes),
        Err(ManifestError::HashMismatch { .. })
    ));

    bytes.truncate(middle);
    fs::write(&victim, &bytes).unwrap();
    assert!(matches!(
        manifest.verify_files(&dir, Verify::Sizes),
        Err(ManifestError::SizeMismatch { .. })
    ));
}

#[test]
fn a_manifest_that_is_not_json_is_a_typed_error() {
    let (_scratch, dir) = scratch_copy("tiny-5b");
    fs::write(dir.join("manifest.json"), "{ not json").unwrap();
    assert!(matches!(
        Manifest::load(&dir),
        Err(ManifestError::Json { .. })
    ));
}

/// The prefill and step graphs of the tiny-5b top prior (fp32), which share one weights file.
fn shared_weights_file(manifest: &Manifest) -> String {
    let prefill = manifest
        .graph(GraphKind::PriorPrefill, 2, Precision::Fp32)
        .unwrap();
    let step = manifest
        .graph(GraphKind::PriorStep, 2, Precision::Fp32)
        .unwrap();
    let prefill_data = prefill
        .external_data
        .as_ref()
        .expect("prefill names a weights file");
    let step_data = step
        .external_data
        .as_ref()
        .expect("step names a weights file");
    assert_eq!(prefill_data.file, step_data.file);
    assert_eq!(prefill_data.sha256, step_data.sha256);
    prefill_data.file.clone()
}

#[test]
fn two_graphs_sharing_a_weights_file_list_and_check_it_once() {
    let (_scratch, dir) = scratch_copy("tiny-5b");
    let manifest = Manifest::load(&dir).unwrap();
    let shared = shared_weights_file(&manifest);
    assert_eq!(shared, "prior_l2.fp32.weights");
    let files = manifest.files(&dir).unwrap();
    assert_eq!(files.iter().filter(|f| f.file == shared).count(), 1);
    let naming_it = manifest
        .graphs
        .iter()
        .filter(|g| g.external_data.as_ref().is_some_and(|d| d.file == shared))
        .count();
    assert_eq!(naming_it, 3, "conditioning, prefill and step");
    let listed: u64 = files.iter().map(|f| f.bytes).sum();
    assert_eq!(manifest.total_bytes(&dir).unwrap(), listed);
    manifest.verify_files(&dir, Verify::Hashes).unwrap();

    // A flipped bit in the shared file is reported against that file.
    let victim = dir.join(&shared);
    let mut bytes = fs::read(&victim).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    fs::write(&victim, &bytes).unwrap();
    match manifest.verify_files(&dir, Verify::Hashes) {
        Err(ManifestError::HashMismatch { path }) => assert_eq!(path, victim),
        other => panic!("expected HashMismatch, got {other:?}"),
    }
}

#[test]
fn graphs_that_describe_one_weights_file_differently_are_inconsistent() {
    let (_scratch, dir) = scratch_copy("tiny-5b");
    let path = dir.join("manifest.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let step = json["graphs"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|g| g["file"] == "prior_l2.step.fp32.onnx")
        .unwrap();
    step["external_data"]["sha256"] = "0".repeat(64).into();
    fs::write(&path, json.to_string()).unwrap();
    let manifest = Manifest::load(&dir).unwrap();
    match manifest.verify_files(&dir, Verify::Sizes) {
        Err(ManifestError::Inconsistent { path, .. }) => {
            assert_eq!(path, dir.join("prior_l2.fp32.weights"));
        }
        other => panic!("expected Inconsistent, got {other:?}"),
    }
}

#[test]
fn a_corrupt_weights_file_of_the_right_size_is_caught_at_load() {
    let (_scratch, dir) = scratch_copy("tiny-5b-lyrics");
    let manifest = Manifest::load(&dir).unwrap();
    let weights = manifest
        .graphs
        .iter()
        .find_map(|g| g.external_data.as_ref())
        .expect("tiny-5b-lyrics has a weights file");
    let victim = dir.join(&weights.file);
    let mut bytes = fs::read(&victim).unwrap();
    let at = bytes.len() / 3;
    bytes[at] = bytes[at].wrapping_add(1);
    fs::write(&victim, &bytes).unwrap();
    let error = match encore::engine::Engine::load(&dir, common::runtime(), Verify::Sizes, Some(1))
    {
        Ok(_) => panic!("a corrupt weights file was loaded"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains(&weights.file) && error.contains("corrupt"),
        "{error}"
    );
}

#[test]
fn a_good_model_is_hashed_once_then_remembered_until_a_file_changes() {
    let (_scratch, dir) = scratch_copy("tiny-5b");
    let manifest = Manifest::load(&dir).unwrap();
    let files = manifest.files(&dir).unwrap().len();
    let cache = HashCache::at(dir.parent().unwrap().join("cache/verified-files.json"));

    let first = manifest
        .verify_files_with(&dir, Verify::Sizes, &cache)
        .unwrap();
    assert_eq!((first.hashed, first.remembered), (files, 0));
    let entries = cache.entries();
    assert_eq!(entries.len(), files, "{entries:?}");

    let second = manifest
        .verify_files_with(&dir, Verify::Sizes, &cache)
        .unwrap();
    assert_eq!((second.hashed, second.remembered), (0, files));

    // A file written again (new modification time) is hashed again; `--verify` always hashes.
    let victim = dir.join(&manifest.graphs[0].file);
    let bytes = fs::read(&victim).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs::write(&victim, &bytes).unwrap();
    let third = manifest
        .verify_files_with(&dir, Verify::Sizes, &cache)
        .unwrap();
    assert_eq!((third.hashed, third.remembered), (1, files - 1));
    let all = manifest
        .verify_files_with(&dir, Verify::Hashes, &cache)
        .unwrap();
    assert_eq!(all.hashed, files);
}

#[test]
fn the_manifest_says_what_the_original_model_takes() {
    // 1b_lyrics: one genre at the top prior (v3 labels), a bag of 5 genre words below.
    let manifest = Manifest::load(&model_dir("tiny-1b-lyrics")).unwrap();
    assert_eq!(manifest.labels.max_nb_genres, 1);
    let slots: Vec<usize> = (0..3)
        .map(|level| manifest.prior(level).unwrap().conditioning.max_nb_genres)
        .collect();
    assert_eq!(slots, [5, 5, 1]);
    for name in ["tiny-5b", "tiny-5b-lyrics"] {
        assert_eq!(
            Manifest::load(&model_dir(name))
                .unwrap()
                .labels
                .max_nb_genres,
            5
        );
    }
}

#[test]
fn decoder_context_follows_the_architecture() {
    // Jukebox's VQ-VAE (hparams.py: depth 4, growth 3, multipliers 2, 1, 1): a decoded sample
    // reaches 5742 / 77 / 81 codes each side at levels 0 / 1 / 2 (measured in PyTorch by the
    // gradient of one code's samples on models/tiny-vqvae-deep, which has that architecture).
    let manifest = Manifest::load(&model_dir("tiny-vqvae-deep")).unwrap();
    let decoder = &manifest.vqvae.decoder;
    assert_eq!(decoder.res_depth, [8, 4, 4]);
    let context: Vec<usize> = (0..3).map(|level| decoder.context_codes(level)).collect();
    for (level, measured) in [5742, 77, 81].into_iter().enumerate() {
        assert!(
            context[level] >= measured && context[level] <= measured + 8,
            "level {level}: context {} codes, measured reach {measured}",
            context[level]
        );
    }
}
