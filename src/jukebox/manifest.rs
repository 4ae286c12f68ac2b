//! `manifest.json`, the contract between the exporter (`models/export`) and the engine.
//! Field by field in `docs/manifest.md`; the engine reads every size from here rather than
//! hard-coding Jukebox's numbers.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::kinds::{
    CacheKind, CacheWriter, ElementType, GraphKind, LyricsMode, Precision, WeightsSource,
};
use super::verified::{self, HashCache};

pub const MANIFEST_FILE: &str = "manifest.json";
/// The one manifest format this build understands (3: `vqvae.decoder`, a causal 5b_lyrics
/// lyrics encoder, no `lyrics_oov_regex`; since 2 the prefill and step graphs take the window's
/// whole `cond` `[batch, n_ctx, width]` and gather their rows themselves).
pub const FORMAT_VERSION: u32 = 3;

/// What changed since an older format, for the "re-export" message.
fn what_changed(found: &str) -> &'static str {
    match found {
        "1" | "2" => {
            " (format 3 prior graphs read the window's conditioning where it lies, on the GPU too, \
             the VQ-VAE decoder's reach is declared for seamless streaming, and a 5b_lyrics \
             lyrics encoder is causal as OpenAI trained it)"
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
    #[error(
        "model file {path} does not match its sha256 in the manifest: the file is corrupt \
         (download or copy it again)"
    )]
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
    pub source: WeightsSource,
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
    pub decoder: DecoderSpec,
}

/// What decides how far a decoded sample looks (openai/jukebox `vqvae/encdec.py`,
/// `vqvae/resnet.py`). Level L's decoder runs the conv blocks of levels L, L-1, .., 0; a block
/// is a conv (kernel 3), then per down-sampling step a residual stack of dilated convs (kernel
/// 3) and a transposed conv (kernel 2 x stride); a last conv (kernel 3) makes the audio.
#[derive(Debug, Clone, Deserialize)]
pub struct DecoderSpec {
    /// Residual blocks per stack, by level (Jukebox: 8, 4, 4: `depth x hvqvae_multipliers`).
    pub res_depth: Vec<usize>,
    /// Block i of a stack has dilation `growth ** (i % cycle)` (Jukebox: 3, no cycle).
    pub dilation_growth_rate: usize,
    pub dilation_cycle: Option<usize>,
    /// Down-sampling steps and their stride, by level (Jukebox: 3, 2, 2 and 2, 2, 2).
    pub downs_t: Vec<usize>,
    pub strides_t: Vec<usize>,
}

impl DecoderSpec {
    /// Codes on each side of a code that its decoded samples can depend on at `level`
    /// (bounded from above: a chunk decoded with this much context on both sides equals the
    /// same samples of a whole-level decode). Jukebox: 84, 82 and 5744 codes at levels 2, 1, 0.
    pub fn context_codes(&self, level: usize) -> usize {
        let cycle = |i: usize| self.dilation_cycle.filter(|&c| c > 0).map_or(i, |c| i % c);
        let stack: usize = (0..self.res_depth[level])
            .map(|i| {
                self.dilation_growth_rate
                    .saturating_pow(u32::try_from(cycle(i)).unwrap_or(u32::MAX))
            })
            .fold(0, usize::saturating_add);
        // Walk from the audio back to the codes, in units of each stage's positions.
        let mut reach = 1usize; // the output conv, kernel 3
        for block in 0..=level {
            let stride = self.strides_t[block].max(1);
            for _ in 0..self.downs_t[block] {
                // A transposed conv of kernel 2 x stride: an output reaches at most
                // (reach + kernel - 1) / stride inputs further on each side.
                reach = reach.saturating_add(2 * stride - 1).div_ceil(stride);
                reach = reach.saturating_add(stack);
            }
            reach = reach.saturating_add(1); // the block's input conv, kernel 3
        }
        reach
    }
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
    /// The first position the step graph computes exactly (the fused step: past the lyric
    /// prime and past the first attention block); earlier steps run through the prefill graph.
    /// Absent in older manifests, whose step graphs are exact everywhere.
    #[serde(default)]
    pub step_from_position: usize,
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
    pub mode: LyricsMode,
    pub n_tokens: usize,
    pub vocab_size: usize,
    pub prefix_len: usize,
    pub prime_len: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CacheSpec {
    /// Cache element type by precision (fp32 -> float32).
    pub dtype: BTreeMap<Precision, ElementType>,
    pub zero_at_allocation: bool,
    pub layers: Vec<CacheLayer>,
    /// Keys and values of every layer for one batch row, by precision.
    pub bytes_per_sample: BTreeMap<Precision, u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CacheLayer {
    pub layer: usize,
    #[serde(rename = "type")]
    pub attention_type: u8,
    pub kind: CacheKind,
    pub slots: usize,
    pub key: String,
    pub value: String,
    pub written_by: CacheWriter,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GraphSpec {
    pub file: String,
    pub kind: GraphKind,
    pub level: usize,
    pub precision: Precision,
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
    pub dtype: ElementType,
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
    /// What every load does: existence and sizes, and each file's sha256 once, remembered
    /// (by path, size and modification time: see [`HashCache`]) so that a later load of the
    /// same files reads none of them.
    Sizes,
    /// Every sha256, every time (reads every byte: seconds for a real model).
    Hashes,
}

/// What a check did, file by file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Files whose sha256 was computed.
    pub hashed: usize,
    /// Files whose sha256 was already checked at this size and modification time.
    pub remembered: usize,
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
        let decoder = &self.vqvae.decoder;
        for (what, len) in [
            ("decoder.res_depth", decoder.res_depth.len()),
            ("decoder.downs_t", decoder.downs_t.len()),
            ("decoder.strides_t", decoder.strides_t.len()),
        ] {
            if len != self.vqvae.levels {
                return Err(inconsistent(format!(
                    "vqvae.{what} has {len} entries for {} levels",
                    self.vqvae.levels
                )));
            }
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

    /// Checks that every listed file is there, whole, and (with [`Verify::Sizes`] or
    /// [`Verify::Hashes`]) unaltered, remembering checked files in the user's [`HashCache`].
    /// A weights file shared by several graphs is checked (and hashed) once.
    pub fn verify_files(&self, dir: &Path, verify: Verify) -> Result<(), ManifestError> {
        self.verify_files_with(dir, verify, &HashCache::user())
            .map(|_| ())
    }

    /// [`Manifest::verify_files`] with the checked files remembered in `cache`.
    pub fn verify_files_with(
        &self,
        dir: &Path,
        verify: Verify,
        cache: &HashCache,
    ) -> Result<VerifyReport, ManifestError> {
        let mut report = VerifyReport::default();
        let mut checked = Vec::new();
        let known = match verify {
            Verify::Sizes => cache.entries(),
            Verify::Hashes => BTreeMap::new(),
        };
        let result = self.files(dir).and_then(|files| {
            for file in files {
                let path = dir.join(file.file);
                let meta = check_size(&path, file.bytes)?;
                let stamp = verified::stamp(&meta, file.sha256);
                let remembered = HashCache::remembered(&known, &path, &stamp);
                if verify == Verify::Sizes {
                    if remembered {
                        report.remembered += 1;
                        continue;
                    }
                    tracing::info!(
                        "checking the sha256 of {} once (remembered afterwards)",
                        path.display()
                    );
                }
                report.hashed += 1;
                if !sha256_hex(&path)?.eq_ignore_ascii_case(file.sha256) {
                    return Err(ManifestError::HashMismatch { path });
                }
                checked.push((path, stamp));
            }
            Ok(())
        });
        // What was found good stays known even when a later file fails.
        cache.remember(&checked);
        result.map(|()| report)
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
    pub fn graph(&self, kind: GraphKind, level: usize, precision: Precision) -> Option<&GraphSpec> {
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

fn check_size(path: &Path, bytes: u64) -> Result<fs::Metadata, ManifestError> {
    let Ok(meta) = fs::metadata(path) else {
        return Err(ManifestError::MissingFile {
            path: path.to_path_buf(),
        });
    };
    if meta.len() != bytes {
        return Err(ManifestError::SizeMismatch {
            path: path.to_path_buf(),
            expected: bytes,
            found: meta.len(),
        });
    }
    Ok(meta)
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
