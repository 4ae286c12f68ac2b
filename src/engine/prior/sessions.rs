//! The sessions of one prior: which graph runs which call, and whether steps are captured.
//!
//! The prefill graph at `chunk = 1` computes exactly what the step graph does, so one session of
//! it serves prefill and step alike: ONNX Runtime then holds ONE copy of the packed weights (two
//! sessions each prepack their own, about twice the weights' size on the CPU). The step graph
//! has its own session only where it pays: on CUDA with CUDA graphs, where a replay needs the
//! fixed shapes of a step.

use std::path::Path;

use ort::session::Session;

use crate::engine::error::EngineError;
use crate::engine::session::{Device, SessionFactory};
use crate::jukebox::{GraphKind, Manifest, Precision};

/// How the steps of a prior run on the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepGraphs {
    /// On the CPU: no graphs to capture.
    NotOnCpu,
    /// CUDA, with CUDA graphs switched off (`--no-cuda-graphs`).
    Off,
    /// CUDA: the step graph is captured once per batch and replayed.
    Captured,
    /// CUDA: the capture failed, so steps run uncaptured; why.
    Failed { reason: String },
}

impl std::fmt::Display for StepGraphs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepGraphs::NotOnCpu => f.write_str("steps on the CPU"),
            StepGraphs::Off => f.write_str("steps uncaptured (CUDA graphs off)"),
            StepGraphs::Captured => f.write_str("steps replayed as CUDA graphs"),
            StepGraphs::Failed { reason } => {
                write!(f, "steps uncaptured: CUDA graph capture failed ({reason})")
            }
        }
    }
}

pub(super) struct PriorSessions {
    pub conditioning: Session,
    /// The prefill graph: every prefill chunk, and the steps unless `captured_step` exists.
    pub decoder: Session,
    /// CUDA with graphs: the step graph, captured and replayed.
    pub captured_step: Option<Session>,
    pub step_graphs: StepGraphs,
}

impl PriorSessions {
    pub fn open(
        dir: &Path,
        manifest: &Manifest,
        level: usize,
        factory: &SessionFactory,
        precision: Precision,
    ) -> Result<Self, EngineError> {
        let path = |kind: GraphKind| {
            manifest
                .graph(kind, level, precision)
                .map(|spec| dir.join(&spec.file))
                .ok_or_else(|| EngineError::MissingGraph {
                    what: format!("{kind} graph for level {level} ({precision})"),
                })
        };
        let conditioning = factory.open(&path(GraphKind::PriorConditioning)?)?;
        let decoder = factory.open(&path(GraphKind::PriorPrefill)?)?;
        let (captured_step, step_graphs) = match factory.device {
            Device::Cpu => (None, StepGraphs::NotOnCpu),
            Device::Cuda if !factory.cuda_graphs => (None, StepGraphs::Off),
            Device::Cuda => match factory.open_captured(&path(GraphKind::PriorStep)?) {
                Ok(session) => (Some(session), StepGraphs::Captured),
                Err(error) => {
                    tracing::warn!(%error, level, "CUDA graphs unavailable, steps run uncaptured");
                    (
                        None,
                        StepGraphs::Failed {
                            reason: error.to_string(),
                        },
                    )
                }
            },
        };
        Ok(Self {
            conditioning,
            decoder,
            captured_step,
            step_graphs,
        })
    }

    /// After a captured step failed at run time: steps go through the decoder from now on.
    pub fn give_up_capture(&mut self, reason: String) {
        self.captured_step = None;
        self.step_graphs = StepGraphs::Failed { reason };
    }
}
