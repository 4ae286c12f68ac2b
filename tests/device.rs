//! Choosing the device: CUDA when it works, the CPU otherwise, always with the reason; a user
//! who insists on CUDA gets a clear error, never a crash or a silent CPU run.

mod common;

use encore::engine::{Device, DevicePreference, Engine, EngineError, EngineOptions};
use encore::jukebox::Precision;
use encore::jukebox::manifest::Verify;

fn open(device: DevicePreference) -> Result<Engine, EngineError> {
    let options = EngineOptions {
        verify: Verify::Sizes,
        intra_threads: Some(1),
        device,
        ..EngineOptions::default()
    };
    Engine::open(&common::model_dir("tiny-5b"), common::runtime(), options)
}

#[test]
fn auto_runs_somewhere_and_says_why() {
    let engine = open(DevicePreference::Auto).expect("auto always finds a device");
    let reason = engine.device_reason();
    match engine.device() {
        Device::Cuda => assert_eq!(engine.prior_precision(), Precision::Fp16),
        Device::Cpu => {
            assert!(reason.starts_with("CUDA is not usable: "), "{reason}");
            assert_eq!(engine.prior_precision(), Precision::Fp32);
        }
    }
}

#[test]
fn cpu_is_honoured() {
    let engine = open(DevicePreference::Cpu).unwrap();
    assert_eq!(engine.device(), Device::Cpu);
    assert_eq!(engine.device_reason(), "the CPU was chosen in the settings");
}

#[test]
fn insisting_on_cuda_without_it_is_an_error_with_the_reason() {
    let auto = open(DevicePreference::Auto).unwrap();
    if auto.device() == Device::Cuda {
        return; // This machine has a working GPU: nothing to refuse.
    }
    let error = open(DevicePreference::Cuda)
        .err()
        .expect("CUDA cannot work here");
    let message = error.to_string();
    assert!(
        matches!(error, EngineError::DeviceUnavailable { .. }),
        "{message}"
    );
    // The same reason `auto` gave when it fell back.
    assert_eq!(auto.device_reason(), message);
}

/// ONNX Runtime's threads sleep between tasks instead of spinning: with a core taken by the
/// host's audio thread, spinning ones halved the step's speed (docs/performance.md,
/// "Spinning").
#[test]
fn sessions_do_not_spin_while_waiting() {
    let factory = encore::engine::SessionFactory::cpu(common::runtime());
    assert!(
        factory
            .config_entries()
            .contains(&("session.intra_op.allow_spinning", "0")),
        "{:?}",
        factory.config_entries()
    );
}
