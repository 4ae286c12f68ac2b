//! The model folder's manifest: the committed tiny models load and verify, and every kind of
//! damage to a model folder is a typed error naming the file, never a panic.

mod common;

use std::fs;
use std::path::PathBuf;

use common::model_dir;
use encore::jukebox::manifest::{Manifest, ManifestError, ModelKind, PriorKind, Verify};

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
                manifest.graph("vqvae_encoder", level, "fp32").is_some(),
                "{name} L{level}"
            );
            assert!(
                manifest.graph("vqvae_decoder", level, "fp32").is_some(),
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
            for graph in ["prior_conditioning", "prior_prefill", "prior_step"] {
                assert!(
                    manifest.graph(graph, level, "fp32").is_some(),
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
    assert!(error.contains("format 1 prior graphs"), "{error}");
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

    // Same size, one bit flipped: only the hash can tell.
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    fs::write(&victim, &bytes).unwrap();
    manifest.verify_files(&dir, Verify::Sizes).unwrap();
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
    let prefill = manifest.graph("prior_prefill", 2, "fp32").unwrap();
    let step = manifest.graph("prior_step", 2, "fp32").unwrap();
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
