//! Milliseconds per `Prior::step` of one exported prior, as the engine runs it, at several
//! batch sizes; the prefill of a prime first; memory after each batch. The GPU check
//! (`cargo xtask gpu-check`, tools/gpu_check/) runs it on CPU and CUDA; by hand:
//!
//! ```text
//! cargo run --release --example step_bench -- --model DIR --level 2 --device cpu \
//!     --precision fp32 --batch 1 3 --prime 400 --steps 30 --warmup 3 --threads 2
//! ```
//!
//! Prints one JSON object per line: `{"event": "opened", ..}`, then one `{"event": "batch", ..}`
//! per batch size (median / min / max ms of the timed steps, prefill ms, memory). The ids fed
//! are the argmax of the previous logits, picked outside the timed call. A model folder holding
//! only some priors (the exporter's `--priors`) is fine: only the chosen level is opened.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use encore::engine::{
    ConditioningInputs, Device, Prior, RuntimeSearch, SessionFactory, ensure_loaded,
};
use encore::jukebox::{Manifest, Precision, PriorSpec};
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// Model folder (manifest.json and the prior's graphs).
    #[arg(long)]
    model: PathBuf,
    /// VQ-VAE level of the prior: 2 = top, 1 and 0 = upsamplers.
    #[arg(long, default_value_t = 2)]
    level: usize,
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Graph precision; default: the device's (fp32 on the CPU, fp16 on CUDA).
    #[arg(long)]
    precision: Option<Precision>,
    #[arg(long, num_args = 1.., default_values_t = [1, 3, 16])]
    batch: Vec<usize>,
    /// Positions fed through the prefill graph before the steps.
    #[arg(long, default_value_t = 400)]
    prime: usize,
    #[arg(long, default_value_t = 30)]
    steps: usize,
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Intra-op threads on the CPU; default: ONNX Runtime's (every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Capture the step graph once per batch and replay it (CUDA only; ignored on the CPU).
    #[arg(long, value_enum, default_value_t = Switch::Off)]
    cuda_graphs: Switch,
    /// Whether ONNX Runtime's intra-op threads spin while waiting (ONNX Runtime's default) or
    /// sleep (the engine's default).
    #[arg(long, value_enum, default_value_t = Switch::Off)]
    spin: Switch,
    /// Write ONNX Runtime's profile of every session (one JSON file each) under this prefix:
    /// each node's run and its duration, for a per-operator breakdown of a step.
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Write the first step's logits of batch row 0 (little-endian f32, one file per batch
    /// size: PATH.b<batch>) to compare graphs exported differently on the same weights.
    #[arg(long)]
    first_logits: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DeviceArg {
    Cpu,
    Cuda,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Switch {
    On,
    Off,
}

/// THE one place the CUDA-graphs choice reaches the engine (`SessionFactory::cuda_graphs`, on by
/// default there, so "off" is set explicitly). Whether the capture then worked is the prior's
/// `step_graphs()`, printed with each batch.
fn apply_cuda_graphs(factory: &mut SessionFactory, wanted: Switch) -> &'static str {
    factory.cuda_graphs = wanted == Switch::On;
    if factory.cuda_graphs { "on" } else { "off" }
}

/// Valid labels for one window at the song's start, every row alike.
fn conditioning(spec: &PriorSpec, batch: usize) -> ConditioningInputs {
    let cond = &spec.conditioning;
    let mut genres = vec![-1; batch * cond.max_nb_genres];
    genres
        .iter_mut()
        .step_by(cond.max_nb_genres.max(1))
        .for_each(|g| *g = 0);
    let [lo, hi] = cond.total_length_range;
    let lyrics = spec.lyrics.as_ref().map_or(0, |l| l.n_tokens);
    ConditioningInputs {
        artist: vec![0; batch],
        genres,
        total_length: vec![(lo + hi) / 2; batch],
        offset: vec![0; batch],
        sample_length: vec![(spec.music_ctx * spec.raw_to_tokens) as i64; batch],
        lyrics: vec![1; batch * lyrics],
        upper_codes: vec![0; batch * spec.n_ctx / cond.cond_downsample.max(1)],
    }
}

/// `VmHWM` / `VmRSS` of this process in MB (Linux).
fn host_memory() -> serde_json::Value {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map(|kib| kib / 1024)
    };
    json!({"peak_rss_mb": field("VmHWM:"), "rss_mb": field("VmRSS:")})
}

/// GPU memory this process holds, from `nvidia-smi` (MiB); the whole device's use where the
/// process is not listed (some containers hide pids).
fn gpu_memory() -> serde_json::Value {
    let query = |args: &[&str]| {
        std::process::Command::new("nvidia-smi")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let pid = std::process::id().to_string();
    let ours = query(&[
        "--query-compute-apps=pid,used_memory",
        "--format=csv,noheader,nounits",
    ])
    .and_then(|text| {
        text.lines().find_map(|line| {
            let (p, used) = line.split_once(',')?;
            (p.trim() == pid).then(|| used.trim().parse::<u64>().ok())?
        })
    });
    match ours {
        Some(mib) => json!({"gpu_process_mib": mib}),
        None => {
            let device = query(&["--query-gpu=memory.used", "--format=csv,noheader,nounits"])
                .and_then(|t| t.lines().next()?.trim().parse::<u64>().ok());
            json!({"gpu_device_used_mib": device})
        }
    }
}

fn argmax_rows(logits: &[f32], vocab: usize) -> Vec<i64> {
    logits
        .chunks(vocab)
        .map(|row| {
            let best = row
                .iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                );
            best.0 as i64
        })
        .collect()
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Microsecond resolution: a full-size step on the GPU is a fraction of a millisecond.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Prefill of `prime` positions in the engine's own chunks (a few attention blocks each).
fn prefill(prior: &mut Prior, batch: usize, prime: usize) -> Result<()> {
    let most = prior.max_prefill_chunk().max(1);
    let mut position = 0;
    while position < prime {
        let chunk = most.min(prime - position);
        prior.prefill(&vec![0; batch * chunk], position)?;
        position += chunk;
    }
    Ok(())
}

fn bench_batch(prior: &mut Prior, args: &Args, batch: usize, device: Device) -> Result<()> {
    let spec = prior.spec().clone();
    let last = args.prime + args.warmup + args.steps;
    if last > spec.n_ctx {
        bail!(
            "prime {} + {} steps passes the window of {}",
            args.prime,
            args.warmup + args.steps,
            spec.n_ctx
        );
    }
    let began = Instant::now();
    prior.allocate(batch)?;
    prior.condition(&conditioning(&spec, batch))?;
    let setup_ms = began.elapsed().as_secs_f64() * 1e3;
    // Twice: the first run of a batch pays one-time costs (on CUDA the arena's growth and the
    // libraries' first calls), the second is what every later window pays. Rewriting the same
    // positions leaves the caches as one prefill would.
    let mut prefill_ms = [0.0; 2];
    for ms in &mut prefill_ms {
        let began = Instant::now();
        prefill(prior, batch, args.prime)?;
        *ms = began.elapsed().as_secs_f64() * 1e3;
    }

    let mut tokens = vec![0i64; batch];
    let mut times = Vec::with_capacity(args.steps);
    for (i, position) in (args.prime..last).enumerate() {
        let began = Instant::now();
        let logits = prior.step(&tokens, position)?;
        let ms = began.elapsed().as_secs_f64() * 1e3;
        if logits.iter().any(|v| !v.is_finite()) {
            bail!("non-finite logits at position {position}, batch {batch}");
        }
        if i == 0
            && let Some(path) = &args.first_logits
        {
            let row: Vec<u8> = logits[..spec.vocab_size]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            let mut named = path.clone().into_os_string();
            named.push(format!(".b{batch}"));
            std::fs::write(&named, row).with_context(|| format!("writing {named:?}"))?;
        }
        tokens = argmax_rows(logits, spec.vocab_size);
        if i >= args.warmup {
            times.push(ms);
        }
    }
    times.sort_by(f64::total_cmp);
    let mut line = json!({
        "event": "batch",
        "batch": batch,
        "prime": args.prime,
        "setup_ms": round1(setup_ms),
        "prefill_ms": round1(prefill_ms[1]),
        "prefill_first_ms": round1(prefill_ms[0]),
        "steps": times.len(),
        "first_position": args.prime + args.warmup,
        "median_ms": round3(median(&times)),
        "min_ms": round3(times[0]),
        "max_ms": round3(times[times.len() - 1]),
        "memory": host_memory(),
        "step_graphs": prior.step_graphs().to_string(),
    });
    if device == Device::Cuda {
        line["gpu_memory"] = gpu_memory();
    }
    println!("{line}");
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.batch.is_empty() || args.steps == 0 {
        bail!("give at least one batch size and one step");
    }
    let runtime = ensure_loaded(&RuntimeSearch::from_this_binary(None))
        .context("ONNX Runtime is needed: run `cargo xtask setup` or set ENCORE_ORT_DYLIB")?;
    let device = match args.device {
        DeviceArg::Cpu => Device::Cpu,
        DeviceArg::Cuda => Device::Cuda,
    };
    let mut factory = SessionFactory::on(runtime, device);
    factory.intra_threads = args.threads;
    let graphs = apply_cuda_graphs(&mut factory, args.cuda_graphs);
    factory.spin_wait = args.spin == Switch::On;
    factory.profile_prefix = args.profile.clone();
    let precision = args.precision.unwrap_or_else(|| factory.precision());
    let manifest =
        Manifest::load(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let began = Instant::now();
    let mut prior = Prior::open(&args.model, &manifest, args.level, &factory, precision)
        .with_context(|| format!("opening the level-{} prior", args.level))?;
    let spec = prior.spec();
    println!(
        "{}",
        json!({
            "event": "opened",
            "model": manifest.model.name,
            "level": args.level,
            "device": device.to_string(),
            "precision": precision.name(),
            "cuda_graphs": graphs,
            "threads": args.threads,
            "layers": spec.depth,
            "width": spec.width,
            "n_ctx": spec.n_ctx,
            "open_s": round1(began.elapsed().as_secs_f64()),
            "memory": host_memory(),
        })
    );
    for &batch in &args.batch {
        bench_batch(&mut prior, &args, batch, device).with_context(|| format!("batch {batch}"))?;
    }
    Ok(())
}
