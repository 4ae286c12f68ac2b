//! The closed sets of names a manifest uses (graph kinds, precisions, element types, cache
//! layouts), as types: a misspelt kind is a compile error here and a clear manifest error on
//! load, never a lookup that silently finds nothing.

use std::fmt;

use serde::Deserialize;

/// The numeric precision a graph was exported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Fp32,
    /// Matmul weights, activations around them and the caches in half precision.
    Fp16,
    /// The layers' matrices in 8 bits (block-scaled, ONNX Runtime's MatMulNBits); the rest as
    /// in fp16.
    Int8,
    /// The same in 4 bits.
    Int4,
}

impl Precision {
    pub const ALL: [Precision; 4] = [
        Precision::Fp32,
        Precision::Fp16,
        Precision::Int8,
        Precision::Int4,
    ];

    /// Bytes of one activation or cache element.
    pub fn element_bytes(self) -> usize {
        match self {
            Precision::Fp32 => 4,
            Precision::Fp16 | Precision::Int8 | Precision::Int4 => 2,
        }
    }

    /// The name the manifest, the graph files and `--precision` use ("fp32", "int8", ...).
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
            Precision::Int8 => "int8",
            Precision::Int4 => "int4",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Precision {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| format!("unknown precision {name:?}: fp32, fp16, int8 or int4"))
    }
}

/// What an exported graph computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraphKind {
    /// Audio to codes at one level.
    VqvaeEncoder,
    /// Codes at one level to audio.
    VqvaeDecoder,
    /// A prior's labels (and upper codes, lyrics) to its conditioning and encoder caches.
    PriorConditioning,
    /// A prior's transformer over a chunk of positions (and, outside captured CUDA graphs,
    /// over each step's single position).
    PriorPrefill,
    /// A prior's transformer over one position, with fixed shapes for CUDA-graph capture.
    PriorStep,
}

impl GraphKind {
    /// The name the manifest uses ("prior_step", ...).
    pub fn name(self) -> &'static str {
        match self {
            GraphKind::VqvaeEncoder => "vqvae_encoder",
            GraphKind::VqvaeDecoder => "vqvae_decoder",
            GraphKind::PriorConditioning => "prior_conditioning",
            GraphKind::PriorPrefill => "prior_prefill",
            GraphKind::PriorStep => "prior_step",
        }
    }
}

impl fmt::Display for GraphKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A tensor's element type, by ONNX's lowercase names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElementType {
    Float32,
    Float16,
    Int64,
    Int32,
}

/// How a layer's key/value cache is laid out (docs/prior-graphs.md has the slot formulas).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheKind {
    /// Type 0: slot = position.
    Linear,
    /// Types 1 and 3: the current (and previous) block, slot = position modulo the ring.
    Ring,
    /// Type 2: one key per block at the same offset.
    Transposed,
    /// Type 6: the lyrics encoder's keys, written once.
    Encoder,
    /// Type 7: the first prime_len positions (the lyrics) plus a block of scratch slots.
    Prime,
}

/// Which graph writes a layer's cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheWriter {
    /// Written once per window by the conditioning graph (type 6).
    Conditioning,
    /// Written by the prefill and step graphs as positions are fed.
    Decoder,
}

/// Where an exported model's weights came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightsSource {
    /// A published checkpoint, read by the exporter's snapshot step.
    Snapshot,
    /// Seeded random weights with the real architecture (tests, benchmarks).
    Random,
}

impl fmt::Display for WeightsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WeightsSource::Snapshot => "published",
            WeightsSource::Random => "random",
        })
    }
}

/// How a lyrics model reads its lyrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LyricsMode {
    /// 5b_lyrics: a separate encoder, read through cross-attention.
    Encoder,
    /// 1b_lyrics: lyric tokens as a prefix of the sequence.
    Prefix,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names_read_as_their_types() {
        let kinds: Vec<GraphKind> = serde_json::from_str(
            r#"["vqvae_encoder", "vqvae_decoder", "prior_conditioning", "prior_prefill", "prior_step"]"#,
        )
        .unwrap();
        assert_eq!(
            kinds.iter().map(|k| k.name()).collect::<Vec<_>>(),
            [
                "vqvae_encoder",
                "vqvae_decoder",
                "prior_conditioning",
                "prior_prefill",
                "prior_step"
            ]
        );
        let precisions: Vec<Precision> =
            serde_json::from_str(r#"["fp32", "fp16", "int8", "int4"]"#).unwrap();
        assert_eq!(precisions, Precision::ALL);
        assert_eq!("fp16".parse::<Precision>(), Ok(Precision::Fp16));
        assert!("bf16".parse::<Precision>().is_err());
        assert!(serde_json::from_str::<GraphKind>(r#""prior_stpe""#).is_err());
    }
}
