//! The device-memory check a job passes before it starts, with an injected amount of free
//! memory (there is no GPU here; on the CPU the engine never refuses a batch).

mod common;

use encore::engine::EngineError;

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
