//! The device-memory check a job passes before it starts, with an injected amount of free
//! memory (there is no GPU here; on the CPU the engine never refuses a batch).

mod common;

use encore::engine::EngineError;
use encore::jukebox::Precision;

#[test]
fn a_batch_that_does_not_fit_is_refused_with_the_takes_that_fit() {
    let engine = common::engine("tiny-5b-lyrics");
    let plan = engine
        .memory_plan(4)
        .unwrap()
        .expect("the model has priors");
    let free = plan.bytes(2); // exactly two takes
    let error = engine.check_device_memory(4, Some(free)).unwrap_err();
    match &error {
        EngineError::OutOfDeviceMemory {
            takes, max_takes, ..
        } => assert_eq!((*takes, *max_takes), (4, 2)),
        other => panic!("expected OutOfDeviceMemory, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains("at most 2 takes fit"), "{message}");
    engine.check_device_memory(2, Some(free)).unwrap();
    // Without a GPU there is nothing to measure, so nothing is refused.
    engine.check_device_memory(1000, None).unwrap();
}

/// The largest prior decides: a job's plan is at least every prior's own plan.
#[test]
fn the_job_plan_is_the_largest_prior() {
    let engine = common::engine("tiny-1b-lyrics");
    let job = engine.memory_plan(3).unwrap().unwrap();
    for spec in &engine.manifest().priors {
        let plan = encore::engine::MemoryPlan::for_prior(
            engine.manifest(),
            spec.level,
            engine.prior_precision(),
            false,
        )
        .unwrap();
        assert!(plan.bytes(3) <= job.bytes(3), "level {}", spec.level);
    }
}

/// The plan against what the process held on a real GPU: for every prior and batch the GPU
/// check measured (docs/gpu-check.json, written by the check on an H200: the process's memory
/// from nvidia-smi with the prior open and the batch stepped), the plan of the same model's
/// manifest (the full-size 1b_lyrics fp16 export, `tests/fixtures/1b-lyrics-fp16-manifest`,
/// vocabularies trimmed) covers it. The measurement includes the CUDA context (about 0.5 GiB,
/// there before a job is checked), which the plan need not count.
#[test]
fn the_plan_covers_what_a_gpu_measured() {
    const CUDA_CONTEXT: u64 = 768 << 20;
    let repo = common::repo_dir();
    let manifest =
        encore::jukebox::Manifest::load(&repo.join("tests/fixtures/1b-lyrics-fp16-manifest"))
            .unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo.join("docs/gpu-check.json")).unwrap())
            .unwrap();
    let mut checked = 0;
    for model in report["models"].as_array().unwrap() {
        let level = model["level"].as_u64().unwrap() as usize;
        let plan =
            encore::engine::MemoryPlan::for_prior(&manifest, level, Precision::Fp16, true).unwrap();
        for (batch, figures) in model["batches"].as_object().unwrap() {
            let Some(mib) = figures["encore_memory"]["gpu_process_mib"].as_u64() else {
                continue;
            };
            let takes: usize = batch.parse().unwrap();
            let measured = mib << 20;
            let planned = plan.bytes(takes) + CUDA_CONTEXT;
            assert!(
                planned >= measured,
                "level {level}, {takes} takes: planned {} MiB, the GPU held {mib} MiB",
                planned >> 20
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 6,
        "docs/gpu-check.json holds {checked} measured batches"
    );
}
