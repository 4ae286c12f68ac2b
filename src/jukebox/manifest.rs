//! `manifest.json`, the contract between the exporter (`models/export`) and the engine.
//! Field by field in `docs/manifest.md`; the engine reads every size from here rather than
//! hard-coding Jukebox's numbers.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

pub const MANIFEST_FILE: &str = "manifest.json";
/// The one manifest format this build understands. Version 2: the prefill and step graphs take
/// the window's whole `cond` `[batch, n_ctx, width]` and gather their rows themselves.
pub const FORMAT_VERSION: u32 = 2;

/// What changed since an older format, for the "re-export" message.
fn what_changed(found: &str) -> &'static str {
    match found {
        "1" => {
            " (format 1 prior graphs take one conditioning row per step, copied by the host; \
             format 2 graphs read the window's conditioning where it lies, on the GPU too)"
        }
        _ => "",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    // The causes are part of the message, not error sources, so that a chain printed with
    // `{:#}` does not say them twice.
    #[error("cannot read {path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path} is not a valid Encore manifest: {cause}")]
    Json {
        path: PathBuf,
        cause: serde_json::Error,
    },
    #[error(
        "{path} has manifest format_version {found}, but this Encore reads version \
         {FORMAT_VERSION}{}: re-export the model with this Encore's exporter",
        what_changed(found)
    )]
    UnsupportedVersion { path: PathBuf, found: String },
    #[error("model file {path} is missing: re-export or re-copy the model folder")]
    MissingFile { path: PathBuf },
    #[error(
        "model file {path} has {found} bytes, the manifest says {expected}: the copy is incomplete"
    )]
    SizeMismatch {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("model file {path} does not match its sha256 in the manifest: the file is corrupt")]
    HashMismatch { path: PathBuf },
    #[error("{path}: {reason}")]
    Inconsistent { path: PathBuf, reason: String },
}

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub model: ModelInfo,
    pub audio: AudioSpec,
    pub vqvae: VqvaeSpec,
    pub labels: LabelSpec,
    pub vocabularies: Vocabularies,
    pub sampling: SamplingDefaults,
    pub priors: Vec<PriorSpec>,
    pub graphs: Vec<GraphSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ModelKind {
    #[serde(rename = "5b")]
    FiveB,
    #[serde(rename = "5b_lyrics")]
    FiveBLyrics,
    #[serde(rename = "1b_lyrics")]
    OneBLyrics,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub kind: ModelKind,
    /// "snapshot" (real weights) or "random".
    pub source: String,
    pub random_seed: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AudioSpec {
    pub sample_rate: u32,
    pub channels: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VqvaeSpec {
    pub levels: usize,
    /// Audio samples per code, by level (0 = finest).
    pub hop_lengths: Vec<usize>,
    pub codebook_size: usize,
    pub codebook_width: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LabelSpec {
    pub max_nb_genres: usize,
    pub min_duration_s: f64,
    pub max_duration_s: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Vocabularies {
    /// Random-weight models have made-up names.
    pub synthetic: bool,
    /// Tokenizer version ("v2" or "v3") by level, keyed "0", "1", "2".
    pub tokenizer_versions: BTreeMap<String, String>,
    pub lyrics_oov_regex: String,
    pub unknown_id: i64,
    pub artists: BTreeMap<String, i64>,
    pub genres: BTreeMap<String, i64>,
    pub lyrics: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SamplingDefaults {
    /// By level.
    pub temperature: Vec<f32>,
    pub top_k: usize,
    pub top_p: f32,
    /// Window advance as a fraction of n_ctx, by level.
    pub hop_fraction: Vec<f32>,
    /// Music codes per window, by level.
    pub n_ctx: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorKind {
    /// 5b: artist, genres and timing.
    Top,
    /// 5b_lyrics: plus a lyrics encoder read through cross-attention.
    TopLyricsEncoder,
    /// 1b_lyrics: lyric tokens as a prefix of the sequence.
    TopLyricsPrefix,
    /// Levels 1 and 0, conditioned on the level above.
    Upsampler,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PriorSpec {
    pub level: usize,
    pub prior_index: usize,
    pub kind: PriorKind,
    pub n_ctx: usize,
    pub music_ctx: usize,
    pub width: usize,
    pub depth: usize,
    pub heads: usize,
    pub attn_width: usize,
    pub head_dim: usize,
    pub blocks: usize,
    pub block_ctx: usize,
    pub attention_types: Vec<u8>,
    pub vocab_size: usize,
    pub music_vocab_size: usize,
    pub token_offset: usize,
    pub raw_to_tokens: usize,
    pub conditioning: ConditioningSpec,
    pub lyrics: Option<LyricsSpec>,
    pub cache: CacheSpec,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ConditioningSpec {
    pub inputs: Vec<String>,
    pub max_nb_genres: usize,
    pub timing: bool,
    /// `[min, max)` in samples.
    pub total_length_range: [i64; 2],
    /// Upsamplers: lower codes per upper code; 0 for the top prior.
    pub cond_downsample: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LyricsSpec {
    /// "encoder" (5b_lyrics) or "prefix" (1b_lyrics).
    pub mode: String,
    pub n_tokens: usize,
    pub vocab_size: usize,
    pub prefix_len: usize,
    pub prime_len: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CacheSpec {
    /// Cache dtype by precision ("fp32" -> "float32").
    pub dtype: BTreeMap<String, String>,
    pub zero_at_allocation: bool,
    pub layers: Vec<CacheLayer>,
    /// Keys and values of every layer for one batch row, by precision.
    pub bytes_per_sample: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CacheLayer {
    pub layer: usize,
    #[serde(rename = "type")]
    pub attention_type: u8,
    pub kind: String,
    pub slots: usize,
    pub key: String,
    pub value: String,
    /// "conditioning" (type 6) or "decoder".
    pub written_by: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GraphSpec {
    pub file: String,
    pub kind: String,
    pub level: usize,
    pub precision: String,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    pub bytes: u64,
    pub sha256: String,
    /// The weights file the graph's large tensors live in; ONNX Runtime finds it beside the
    /// graph. The graphs of one prior and precision all name the same file.
    pub external_data: Option<ExternalData>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExternalData {
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: String,
    /// Fixed sizes as numbers, symbolic ones ("batch", "samples") as names.
    pub shape: Vec<Dim>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    Fixed(usize),
    Symbolic(String),
}

/// How thoroughly to check the files a manifest lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Existence and sizes: cheap, done on every load.
    Sizes,
    /// Also every sha256 (reads every byte: seconds for a real model).
    Hashes,
}

impl Manifest {
    /// Reads `dir/manifest.json`, rejecting formats this build does not understand.
    pub fn load(dir: &Path) -> Result<Self, ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let text = fs::read_to_string(&path).map_err(|cause| ManifestError::Io {
            path: path.clone(),
            cause,
        })?;
        let json = |cause| ManifestError::Json {
            path: path.clone(),
            cause,
        };
        // The version first: a newer format may not parse as this one, and "re-export" is a
        // better answer than a parse error.
        let value: serde_json::Value = serde_json::from_str(&text).map_err(json)?;
        match value
            .get("format_version")
            .and_then(serde_json::Value::as_u64)
        {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            _ => {
                let found = value
                    .get("format_version")
                    .map_or_else(|| "(missing)".to_string(), ToString::to_string);
                return Err(ManifestError::UnsupportedVersion { path, found });
            }
        }
        let manifest: Manifest = serde_json::from_value(value).map_err(json)?;
        manifest.check_consistency(&path)?;
        Ok(manifest)
    }

    fn check_consistency(&self, path: &Path) -> Result<(), ManifestError> {
        let inconsistent = |reason: String| ManifestError::Inconsistent {
            path: path.to_path_buf(),
            reason,
        };
        if self.vqvae.hop_lengths.len() != self.vqvae.levels {
            return Err(inconsistent(format!(
                "{} hop lengths for {} levels",
                self.vqvae.hop_lengths.len(),
                self.vqvae.levels
            )));
        }
        for prior in &self.priors {
            if prior.attention_types.len() != prior.depth {
                return Err(inconsistent(format!(
                    "level {} prior has {} attention types for depth {}",
                    prior.level,
                    prior.attention_types.len(),
                    prior.depth
                )));
            }
            if prior.blocks * prior.block_ctx != prior.n_ctx {
                return Err(inconsistent(format!(
                    "level {} prior: blocks x block_ctx != n_ctx",
                    prior.level
                )));
            }
        }
        Ok(())
    }

    /// Checks that every listed file is there, whole, and (with [`Verify::Hashes`]) unaltered.
    /// A weights file shared by several graphs is checked (and hashed) once.
    pub fn verify_files(&self, dir: &Path, verify: Verify) -> Result<(), ManifestError> {
        for file in self.files(dir)? {
            check_file(&dir.join(file.file), file.bytes, file.sha256, verify)?;
        }
        Ok(())
    }

    /// Every file the manifest lists, each once, in listing order: graph files, and the
    /// external-data files they name. Graphs of one prior share one weights file; all of
    /// them must then describe it alike.
    pub fn files(&self, dir: &Path) -> Result<Vec<ListedFile<'_>>, ManifestError> {
        let mut files = Vec::new();
        for graph in &self.graphs {
            push_once(&mut files, dir, &graph.file, graph.bytes, &graph.sha256)?;
            if let Some(data) = &graph.external_data {
                push_once(&mut files, dir, &data.file, data.bytes, &data.sha256)?;
            }
        }
        Ok(files)
    }

    /// Bytes of all listed files, a shared weights file counted once.
    pub fn total_bytes(&self, dir: &Path) -> Result<u64, ManifestError> {
        Ok(self.files(dir)?.iter().map(|f| f.bytes).sum())
    }

    /// The graph of a kind, level and precision, if exported.
    pub fn graph(&self, kind: &str, level: usize, precision: &str) -> Option<&GraphSpec> {
        self.graphs
            .iter()
            .find(|g| g.kind == kind && g.level == level && g.precision == precision)
    }

    pub fn prior(&self, level: usize) -> Option<&PriorSpec> {
        self.priors.iter().find(|p| p.level == level)
    }
}

/// One file of a model folder, as the manifest describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedFile<'a> {
    /// Relative to the model folder.
    pub file: &'a str,
    pub bytes: u64,
    pub sha256: &'a str,
}

fn push_once<'a>(
    files: &mut Vec<ListedFile<'a>>,
    dir: &Path,
    file: &'a str,
    bytes: u64,
    sha256: &'a str,
) -> Result<(), ManifestError> {
    match files.iter().find(|listed| listed.file == file) {
        None => {
            files.push(ListedFile {
                file,
                bytes,
                sha256,
            });
            Ok(())
        }
        Some(seen) if seen.bytes == bytes && seen.sha256.eq_ignore_ascii_case(sha256) => Ok(()),
        Some(_) => Err(ManifestError::Inconsistent {
            path: dir.join(file),
            reason: "listed more than once with different sizes or hashes".to_string(),
        }),
    }
}

fn check_file(path: &Path, bytes: u64, sha256: &str, verify: Verify) -> Result<(), ManifestError> {
    let found = match fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(_) => {
            return Err(ManifestError::MissingFile {
                path: path.to_path_buf(),
            });
        }
    };
    if found != bytes {
        return Err(ManifestError::SizeMismatch {
            path: path.to_path_buf(),
            expected: bytes,
            found,
        });
    }
    if verify == Verify::Hashes && !sha256_hex(path)?.eq_ignore_ascii_case(sha256) {
        return Err(ManifestError::HashMismatch {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

fn sha256_hex(path: &Path) -> Result<String, ManifestError> {
    let io = |cause| ManifestError::Io {
        path: path.to_path_buf(),
        cause,
    };
    let mut file = fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}
