//! How long a run will take on the CPU, said before it starts when it is hours.
//!
//! A full-size prior's step reads every weight once, so on the CPU its time is about its step
//! graph's weight bytes over the memory bandwidth; each level samples one code per step, the
//! takes of a batch together. The estimate is a floor (a batch costs a little more than one
//! take; windows re-prime), good to an order of magnitude, which is what the warning needs.

use std::ops::RangeInclusive;

use encore::jukebox::{GraphKind, Manifest, Precision};

/// Weight bytes a CPU step reads per second: a full-size 1b_lyrics top-prior step (3.72 GB of
/// fp32 weights) took a median 125 ms on a 2-core machine (docs/performance.md), ~30 GB/s.
const CPU_WEIGHT_BYTES_PER_SECOND: f64 = 30e9;
/// What a step costs at least, whatever the model's size (the engine's own work per call).
const CPU_STEP_OVERHEAD_SECONDS: f64 = 1e-4;
/// Arithmetic a CPU does per second in the priors' matrix products (of the order a few AVX2
/// cores give): a batch of many takes is bound by it rather than by reading the weights.
const CPU_FLOPS: f64 = 100e9;
/// Runs estimated longer than this are warned about.
pub const WARN_AFTER_SECONDS: f64 = 3600.0;

/// Seconds of CPU time to sample `audio_seconds` of `takes` takes at each of `levels` with the
/// priors at `precision`; `None` when the model lacks a level's step graph.
pub fn cpu_seconds(
    manifest: &Manifest,
    precision: Precision,
    levels: RangeInclusive<usize>,
    audio_seconds: f64,
    takes: usize,
) -> Option<f64> {
    let rate = f64::from(manifest.audio.sample_rate);
    levels
        .map(|level| {
            let graph = manifest.graph(GraphKind::PriorStep, level, precision)?;
            let bytes = graph
                .external_data
                .as_ref()
                .map_or(graph.bytes, |d| d.bytes);
            let hop = *manifest.vqvae.hop_lengths.get(level)? as f64;
            let steps = audio_seconds.max(0.0) * rate / hop;
            // Two operations per weight and take: a multiply and an add.
            let weights = bytes as f64 / bytes_per_weight(precision);
            let step = (bytes as f64 / CPU_WEIGHT_BYTES_PER_SECOND)
                .max(2.0 * weights * takes as f64 / CPU_FLOPS)
                .max(CPU_STEP_OVERHEAD_SECONDS);
            Some(steps * step)
        })
        .sum()
}

fn bytes_per_weight(precision: Precision) -> f64 {
    match precision {
        Precision::Fp32 => 4.0,
        Precision::Fp16 => 2.0,
        Precision::Int8 => 1.0,
        Precision::Int4 => 0.5,
    }
}

/// Bytes of the priors' caches for `takes` takes at `precision`: the largest prior's, since
/// one level is sampled at a time.
pub fn cache_bytes(manifest: &Manifest, precision: Precision, takes: usize) -> u64 {
    let per_take = manifest
        .priors
        .iter()
        .filter_map(|prior| {
            let cache = &prior.cache.bytes_per_sample;
            cache
                .get(&precision)
                .or_else(|| cache.get(&Precision::Fp32))
        })
        .max()
        .copied()
        .unwrap_or(0);
    per_take.saturating_mul(takes as u64)
}

/// Caches beyond this are warned about (a laptop's memory, a consumer GPU's).
pub const WARN_CACHE_BYTES: u64 = 8 << 30;

/// The warning for `takes` takes whose caches need `bytes`, or `None` when that is small.
pub fn takes_warning(takes: usize, bytes: u64) -> Option<String> {
    (bytes > WARN_CACHE_BYTES).then(|| {
        format!(
            "warning: {takes} takes are sampled as one batch: their caches alone need about \
             {:.0} GiB of memory, on top of the model's weights; fewer --takes per run (and more \
             runs) need less",
            bytes as f64 / f64::from(1u32 << 30)
        )
    })
}

/// The warning for a CPU run of `seconds` (estimated), or `None` below an hour. `preview`: the
/// estimate of a level-2-only run, when this one goes further; `gpu`: whether the machine has
/// an NVIDIA driver (only then is a GPU worth mentioning).
pub fn cpu_warning(seconds: f64, preview: Option<f64>, gpu: bool) -> Option<String> {
    if seconds < WARN_AFTER_SECONDS {
        return None;
    }
    let mut warning = format!(
        "warning: on the CPU this run will take about {} (an estimate from the model's size: \
         each step reads all of a prior's weights)",
        duration_words(seconds)
    );
    if let Some(preview) = preview {
        warning.push_str(&format!(
            "; a level-2 preview (--level 2) takes about {}, and `encore upsample` takes the \
             take you like further later",
            duration_words(preview)
        ));
    }
    if gpu {
        warning.push_str(
            "; this machine has an NVIDIA GPU, and on CUDA a run is many times quicker (see \
             the device line for why it is not used)",
        );
    }
    warning.push_str(". Ctrl-C stops it with a checkpoint to resume.");
    Some(warning)
}

/// "3 h 20 min", "45 min", "2 days".
pub fn duration_words(seconds: f64) -> String {
    let minutes = (seconds / 60.0).round() as u64;
    match minutes {
        0 => "less than a minute".into(),
        1..60 => format!("{minutes} min"),
        60..2880 => match minutes % 60 {
            0 => format!("{} h", minutes / 60),
            rest => format!("{} h {rest} min", minutes / 60),
        },
        _ => format!("{} days", (minutes as f64 / 1440.0).round()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tiny-5b's manifest with full-size step graphs (3.72 GB of weights, as 1b_lyrics' top
    /// prior has in fp32) at every level.
    fn full_size() -> Manifest {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tiny-5b");
        let mut manifest = Manifest::load(&dir).unwrap();
        for graph in &mut manifest.graphs {
            if graph.kind == GraphKind::PriorStep {
                graph.external_data = None;
                graph.bytes = 3_720_000_000;
            }
        }
        manifest
    }

    #[test]
    fn a_full_size_model_at_level_0_is_hours_and_its_preview_minutes() {
        let manifest = full_size();
        // 20 s: 6891 top-level steps of 124 ms, 27 563 and 110 250 upsampler steps: 5 h.
        let whole = cpu_seconds(&manifest, Precision::Fp32, 0..=2, 20.0, 1).unwrap();
        let preview = cpu_seconds(&manifest, Precision::Fp32, 2..=2, 20.0, 1).unwrap();
        assert!((4.5 * 3600.0..5.5 * 3600.0).contains(&whole), "{whole}");
        assert!((13.0 * 60.0..16.0 * 60.0).contains(&preview), "{preview}");
        assert!(cpu_warning(whole, Some(preview), false).is_some());
        assert_eq!(cpu_warning(preview, None, false), None);
    }

    #[test]
    fn many_takes_on_the_cpu_cost_arithmetic_and_memory() {
        let manifest = full_size();
        let one = cpu_seconds(&manifest, Precision::Fp32, 2..=2, 20.0, 1).unwrap();
        let hundred = cpu_seconds(&manifest, Precision::Fp32, 2..=2, 20.0, 100).unwrap();
        // 0.93 G weights: 186 GFLOP a step for 100 takes, 1.9 s against 0.12 s.
        assert!(hundred > 10.0 * one, "{one} {hundred}");
        assert_eq!(takes_warning(100, 4 << 30), None);
        let warning = takes_warning(100, 40 << 30).unwrap();
        assert!(
            warning.contains("100 takes") && warning.contains("40 GiB"),
            "{warning}"
        );
    }

    #[test]
    fn a_tiny_model_is_never_warned_about() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tiny-5b");
        let manifest = Manifest::load(&dir).unwrap();
        let seconds = cpu_seconds(&manifest, Precision::Fp32, 0..=2, 60.0, 1).unwrap();
        assert!(seconds < WARN_AFTER_SECONDS, "{seconds}");
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration_words(20.0), "less than a minute");
        assert_eq!(duration_words(45.0 * 60.0), "45 min");
        assert_eq!(duration_words(3.0 * 3600.0 + 20.0 * 60.0), "3 h 20 min");
        assert_eq!(duration_words(2.0 * 3600.0), "2 h");
        assert_eq!(duration_words(5.0 * 86400.0), "5 days");
    }

    #[test]
    fn only_hours_are_warned_about_and_the_preview_is_offered() {
        assert_eq!(cpu_warning(50.0 * 60.0, Some(60.0), false), None);
        let warning = cpu_warning(5.0 * 3600.0, Some(15.0 * 60.0), false).unwrap();
        assert!(warning.contains("about 5 h"), "{warning}");
        assert!(
            warning.contains("--level 2") && warning.contains("15 min"),
            "{warning}"
        );
        assert!(!warning.contains("GPU"), "{warning}");
        let warning = cpu_warning(5.0 * 3600.0, None, true).unwrap();
        assert!(!warning.contains("--level 2"), "{warning}");
        assert!(warning.contains("NVIDIA GPU"), "{warning}");
    }
}
