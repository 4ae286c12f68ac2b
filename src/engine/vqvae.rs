//! The VQ-VAE: audio to codes at every level, and codes back to audio.

use std::path::Path;

use ort::session::Session;
use ort::value::Tensor;

use super::error::EngineError;
use super::session::SessionFactory;
use crate::jukebox::{GraphKind, Manifest, Precision};

/// One level's encoder and decoder.
struct Level {
    hop: usize,
    /// Codes each side of a code its decoded samples can depend on.
    context: usize,
    encoder: Session,
    decoder: Session,
}

pub struct Vqvae {
    levels: Vec<Level>,
}

impl Vqvae {
    /// Opens the fp32 encoders and the decoders of `precision` for every level.
    pub fn open(
        dir: &Path,
        manifest: &Manifest,
        factory: &SessionFactory,
        precision: Precision,
    ) -> Result<Self, EngineError> {
        let graph = |kind: GraphKind, level: usize, precision: Precision| {
            manifest
                .graph(kind, level, precision)
                .map(|g| dir.join(&g.file))
                .ok_or_else(|| EngineError::MissingGraph {
                    what: format!("{kind} for level {level} ({precision})"),
                })
        };
        let levels = (0..manifest.vqvae.levels)
            .map(|level| {
                Ok(Level {
                    hop: manifest.vqvae.hop_lengths[level],
                    context: manifest.vqvae.decoder.context_codes(level),
                    encoder: factory.open(&graph(
                        GraphKind::VqvaeEncoder,
                        level,
                        Precision::Fp32,
                    )?)?,
                    decoder: factory.open(&graph(GraphKind::VqvaeDecoder, level, precision)?)?,
                })
            })
            .collect::<Result<_, EngineError>>()?;
        Ok(Self { levels })
    }

    pub fn hop_length(&self, level: usize) -> usize {
        self.levels[level].hop
    }

    /// Codes on each side of a code that its decoded samples can depend on: a chunk decoded
    /// with this much context each side equals that part of a whole-level decode.
    pub fn decode_context(&self, level: usize) -> usize {
        self.levels[level].context
    }

    /// Mono 44.1 kHz audio, a whole number of hops long, to one code per hop.
    pub fn encode(&mut self, level: usize, audio: &[f32]) -> Result<Vec<i64>, EngineError> {
        let hop = self.levels[level].hop;
        if audio.is_empty() || !audio.len().is_multiple_of(hop) {
            return Err(EngineError::InvalidInput(format!(
                "level {level} encodes whole hops of {hop} samples; got {} samples",
                audio.len()
            )));
        }
        let input = Tensor::from_array(([1, audio.len()], audio.to_vec()))
            .map_err(|e| run_error("vqvae encoder", e))?;
        let session = &mut self.levels[level].encoder;
        let outputs = session
            .run(ort::inputs!["audio" => input])
            .map_err(|e| run_error("vqvae encoder", e))?;
        let (_, codes) = outputs["codes"]
            .try_extract_tensor::<i64>()
            .map_err(|e| run_error("vqvae encoder", e))?;
        Ok(codes.to_vec())
    }

    /// Codes of one level back to mono 44.1 kHz audio (hop samples per code).
    pub fn decode(&mut self, level: usize, codes: &[i64]) -> Result<Vec<f32>, EngineError> {
        if codes.is_empty() {
            return Ok(Vec::new());
        }
        let input = Tensor::from_array(([1, codes.len()], codes.to_vec()))
            .map_err(|e| run_error("vqvae decoder", e))?;
        let session = &mut self.levels[level].decoder;
        let outputs = session
            .run(ort::inputs!["codes" => input])
            .map_err(|e| run_error("vqvae decoder", e))?;
        let (_, audio) = outputs["audio"]
            .try_extract_tensor::<f32>()
            .map_err(|e| run_error("vqvae decoder", e))?;
        Ok(audio.to_vec())
    }
}

fn run_error(graph: &str, error: ort::Error) -> EngineError {
    EngineError::Run {
        graph: graph.to_string(),
        reason: error.to_string(),
    }
}
