//! clap-validator's state checks (`state-reproducibility-basic`, `-binary`, `-buffered`),
//! reproduced with the test host: clap-validator itself does not build from the registries
//! reachable here. Its check: parameters set to random values while processing, the state
//! saved, a new instance restored from it, every parameter's value compared, and the state saved
//! again byte for byte. Also what clap-validator cannot see: a trigger (Continue, Extend, ...)
//! restored On never fires. Needs the bundle: `cargo xtask bundle`.
//!
//! One test in this binary: it switches the plugin's diagnostics in the state off and on
//! (`ENCORE_DIAGNOSTICS`), which no other thread may race.

#[path = "clap_host/host.rs"]
#[allow(dead_code)]
mod host;

use host::{Host, ParamChange, ParamDescription};

const DIAGNOSTICS_ENV: &str = "ENCORE_DIAGNOSTICS";

/// splitmix64: a fixed sequence, so a failure can be rerun.
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A random plain value for every parameter, as clap-validator's fuzzer makes them (whole
/// numbers for stepped ones), except that every switch is On: the triggers' case that failed.
/// The bypass stays off, so the block is processed.
fn random_values(params: &[ParamDescription], seed: &mut u64) -> Vec<ParamChange> {
    params
        .iter()
        .map(|p| {
            let unit = (next(seed) >> 11) as f64 / (1u64 << 53) as f64;
            let value = if p.bypass {
                p.min
            } else if p.stepped && p.max - p.min == 1.0 {
                p.max
            } else if p.stepped {
                (p.min + unit * (p.max - p.min + 1.0)).floor().min(p.max)
            } else {
                p.min + unit * (p.max - p.min)
            };
            ParamChange {
                at: 0,
                param_id: p.id,
                value,
            }
        })
        .collect()
}

fn values(host: &mut Host, params: &[ParamDescription]) -> Vec<f64> {
    params.iter().map(|p| host.param_value(p.id)).collect()
}

/// The names and (actual, expected) values that differ.
fn mismatches(params: &[ParamDescription], actual: &[f64], expected: &[f64]) -> Vec<String> {
    params
        .iter()
        .zip(actual.iter().zip(expected))
        .filter(|(_, (a, e))| a != e)
        .map(|(p, (a, e))| format!("{} - {a} vs {e}", p.name))
        .collect()
}

/// One variant of clap-validator's check; `chunk`: the largest read or write of the state
/// stream (`usize::MAX`: whole).
fn state_reproducibility(chunk: usize, seed: &mut u64) {
    let (expected_state, expected, params) = {
        let mut first = Host::load();
        let params = first.param_descriptions();
        let changes = random_values(&params, seed);
        first.run_with_changes(2, 48_000.0, 512, &[512], None, &changes);
        let expected = values(&mut first, &params);
        (first.save_state_bytes(chunk), expected, params)
    };
    let mut second = Host::load();
    second.load_state_bytes(&expected_state, chunk);
    let actual = values(&mut second, &params);
    let wrong = mismatches(&params, &actual, &expected);
    assert!(
        wrong.is_empty(),
        "chunk {chunk}: after reloading the state, the parameter values do not match: {}",
        wrong.join(", ")
    );
    let again = second.save_state_bytes(chunk);
    assert!(
        again == expected_state,
        "chunk {chunk}: re-saving the loaded state gave another state:\n{}\nfor\n{}",
        String::from_utf8_lossy(&again),
        String::from_utf8_lossy(&expected_state)
    );
}

fn triggers_fired(host: &mut Host) -> u64 {
    let state = host.save_state();
    let diag: serde_json::Value =
        serde_json::from_str(state["fields"]["diagnostics"].as_str().unwrap()).unwrap();
    diag["triggers_fired"]
        .as_u64()
        .unwrap_or_else(|| panic!("no trigger count in {diag}"))
}

/// Triggers restored On keep their value and never fire; pressed again while processing,
/// they do.
fn a_restored_trigger_never_fires(seed: &mut u64) {
    let triggers = [
        "Continue",
        "Upsample chosen take",
        "Extend chosen take",
        "Re-generate chosen take",
        "Retry chosen take",
    ];
    let saved = {
        let mut first = Host::load();
        let params = first.param_descriptions();
        let changes = random_values(&params, seed);
        first.run_with_changes(2, 48_000.0, 512, &[512, 512], None, &changes);
        assert_eq!(
            triggers_fired(&mut first),
            triggers.len() as u64,
            "each trigger set On while processing fires once"
        );
        first.save_state()
    };
    let mut second = Host::load();
    second.load_state(&saved);
    // Processed after the restore, across activations: nothing fires.
    for _ in 0..3 {
        second.run(2, 48_000.0, 512, &[512, 512], None);
    }
    assert_eq!(triggers_fired(&mut second), 0, "a restore fired a trigger");
    for name in triggers {
        let id = second.param_id(name);
        assert_eq!(second.param_value(id), 1.0, "{name} restored");
    }
    // Off and On again while processing: one press.
    let id = second.param_id("Extend chosen take");
    let press = [
        ParamChange {
            at: 10,
            param_id: id,
            value: 0.0,
        },
        ParamChange {
            at: 20,
            param_id: id,
            value: 1.0,
        },
    ];
    second.run_with_changes(2, 48_000.0, 512, &[512], None, &press);
    assert_eq!(triggers_fired(&mut second), 1);
}

#[test]
fn state_reproducibility_and_triggers_that_never_fire_on_a_restore() {
    let mut seed = 0x5eed;
    // SAFETY: the only test of this binary, run before any plugin instance (and its threads)
    // exists: nothing else reads the environment now.
    unsafe { std::env::remove_var(DIAGNOSTICS_ENV) };
    // basic, binary (the same bytes, compared as bytes) and buffered (7-byte reads and writes).
    for chunk in [usize::MAX, 7] {
        state_reproducibility(chunk, &mut seed);
    }
    // SAFETY: as above; the instances of the checks before are gone with their threads.
    unsafe { std::env::set_var(DIAGNOSTICS_ENV, "1") };
    a_restored_trigger_never_fires(&mut seed);
}
