//! `encore`: the command-line face of the engine.

#[path = "encore/args.rs"]
mod args;
#[path = "encore/estimate.rs"]
mod estimate;
#[path = "encore/generate.rs"]
mod generate;
#[path = "encore/takes.rs"]
mod takes;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use args::{ContinueCli, ContinueTakeCli, ModelOverrideCli, UpsampleCli};
use clap::{Parser, Subcommand};
use encore::audio::{self, WavFormat};
use encore::engine::labels;
use encore::engine::{
    DevicePreference, RuntimeSearch, SessionFactory, Vqvae, device, ensure_loaded,
};
use encore::jukebox::Precision;
use encore::jukebox::manifest::Verify;
use encore::jukebox::{Manifest, WeightsSource};

#[derive(Parser)]
#[command(
    name = "encore",
    version,
    about = "Continue music with OpenAI's Jukebox"
)]
struct Cli {
    /// ONNX Runtime library to use instead of searching for one.
    #[arg(long, global = true, value_name = "PATH")]
    ort_library: Option<PathBuf>,
    /// Where the graphs run: auto (CUDA when it works, else the CPU, saying why), cpu or cuda
    /// (an error when CUDA cannot work).
    #[arg(long, global = true, value_name = "DEVICE", default_value = "auto")]
    device: DevicePreference,
    /// The priors' precision: fp32, fp16, int8 or int4 (the layers' matrices in 8 or 4 bits),
    /// as far as the model folder has it. Default: fp16 on CUDA, fp32 on the CPU.
    #[arg(long, global = true, value_name = "PRECISION")]
    precision: Option<Precision>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check that ONNX Runtime can be loaded and say where it came from, and where the graphs
    /// would run (with --device cuda: an error when CUDA cannot work, and why).
    Doctor,
    /// Describe an exported model folder and check its files.
    Models {
        /// The model folder (holds manifest.json).
        dir: PathBuf,
        /// Also check every file's sha256 (reads every byte).
        #[arg(long)]
        verify: bool,
        /// List the artists --artist takes, one a line (those containing PATTERN, any case).
        #[arg(long, value_name = "PATTERN", num_args = 0..=1, default_missing_value = "")]
        artists: Option<String>,
        /// List the genres --genre takes, one a line (those containing PATTERN, any case).
        #[arg(long, value_name = "PATTERN", num_args = 0..=1, default_missing_value = "")]
        genres: Option<String>,
    },
    /// Encode a prompt with the VQ-VAE and decode it again: hear what the model hears at a level.
    Reconstruct {
        /// Audio file: WAV, FLAC, MP3 or OGG, any sample rate and channel count.
        prompt: PathBuf,
        /// The exported model folder (holds manifest.json), e.g. models/tiny-1b-lyrics.
        #[arg(long, value_name = "DIR")]
        model: PathBuf,
        /// VQ-VAE level: 2 is the coarsest (what the top prior sees), 0 the finest.
        #[arg(long, default_value_t = 2)]
        level: usize,
        /// Folder for the WAV file (never overwritten: a free name is chosen).
        #[arg(long, value_name = "DIR", default_value = ".")]
        out_dir: PathBuf,
    },
    /// Continue a prompt: sample the top level, then upsample down to --level; one WAV (and a
    /// JSON sidecar with the settings) per take and level.
    Continue(ContinueCli),
    /// Continue a generation from its checkpoint (written by `continue` as it runs).
    Resume {
        /// The checkpoint file (`continue` names it when it starts).
        checkpoint: PathBuf,
        #[command(flatten)]
        model: ModelOverrideCli,
    },
    /// Take a finished generation down to a finer level later (e.g. the preview you liked):
    /// the same codes a run that went there in one go gives.
    Upsample(UpsampleCli),
    /// Keep a take up to a time and sample on from there: another seed re-generates the rest,
    /// no --at extends the take.
    ContinueTake(ContinueTakeCli),
}

fn main() -> ExitCode {
    // Output piped into `head` and closed early ends the program quietly, as for other Unix
    // tools, instead of a panic on the next println!.
    // SAFETY: setting a signal's disposition to the default has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            // Symphonia logs a failed probe as an error of its own; the CLI already says what
            // was wrong with the file, once.
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,symphonia_core=off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            if error.downcast_ref::<generate::Interrupted>().is_some() {
                // What shells report for a program the user interrupted (128 + SIGINT).
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let search = RuntimeSearch::from_this_binary(cli.ort_library);
    let device = cli.device;
    let backend = || -> anyhow::Result<generate::Backend> {
        Ok(generate::Backend {
            runtime: ensure_loaded(&search)?,
            device,
            precision: cli.precision,
            cuda_graphs: true,
        })
    };
    match cli.command {
        Command::Doctor => {
            let runtime = ensure_loaded(&search)?;
            let info = &runtime.info;
            println!("ONNX Runtime: {} ({})", info.path.display(), info.origin);
            println!("{}", info.build);
            // With --device cuda, CUDA that cannot work is an error (exit 1), as for a run.
            let choice = device::choose(runtime, device)?;
            println!("device: {} ({})", choice.device, choice.reason);
            Ok(())
        }
        Command::Models {
            dir,
            verify,
            artists,
            genres,
        } => match (artists, genres) {
            (None, None) => describe_model(&dir, verify),
            (artists, genres) => list_labels(&dir, artists.as_deref(), genres.as_deref()),
        },
        Command::Continue(args) => generate::continue_prompt(backend()?, args),
        Command::Resume { checkpoint, model } => generate::resume(backend()?, &checkpoint, &model),
        Command::Upsample(args) => generate::upsample(backend()?, args),
        Command::ContinueTake(args) => generate::continue_take(backend()?, args),
        Command::Reconstruct {
            prompt,
            model,
            level,
            out_dir,
        } => {
            let runtime = ensure_loaded(&search)?;
            let manifest = load_manifest(&model)?;
            manifest.verify_files(&model, Verify::Sizes)?;
            anyhow::ensure!(
                level < manifest.vqvae.levels,
                "level {level} does not exist: the model has levels 0 to {}",
                manifest.vqvae.levels - 1
            );
            let mut vqvae = Vqvae::open(
                &model,
                &manifest,
                &SessionFactory::cpu(runtime),
                Precision::Fp32,
            )?;
            let decoded = audio::read_audio_file(&prompt)?;
            let top_hop = manifest.vqvae.hop_lengths[manifest.vqvae.levels - 1];
            let samples = audio::prepare_prompt(&decoded, manifest.audio.sample_rate, top_hop)
                .with_context(|| format!("prompt {}", prompt.display()))?;
            let codes = vqvae.encode(level, &samples)?;
            let audio_out = vqvae.decode(level, &codes)?;
            std::fs::create_dir_all(&out_dir)
                .with_context(|| format!("creating {}", out_dir.display()))?;
            let stem = prompt.file_stem().unwrap_or_default().to_string_lossy();
            let path = audio::unused_wav_path(&out_dir, &format!("{stem}.level{level}"));
            audio::write_wav_new(
                &path,
                &audio_out,
                manifest.audio.sample_rate,
                WavFormat::Float32,
            )?;
            println!(
                "{} codes at level {level} -> {}",
                codes.len(),
                path.display()
            );
            Ok(())
        }
    }
}

/// What a random-weight (test) model's takes sound like, so they do not look broken.
pub const TINY_MODEL_NOTE: &str = "random weights (a test model): its takes are not music. A \
    level-2 preview is close to silence (a slow drift near DC), levels 1 and 0 are noise; a real \
    model comes from `cargo xtask export` (README, \"Use the real Jukebox\").";

/// `encore models DIR --artists [PATTERN] --genres [PATTERN]`: the names, one a line.
fn list_labels(dir: &Path, artists: Option<&str>, genres: Option<&str>) -> anyhow::Result<()> {
    let manifest = load_manifest(dir)?;
    let vocab = &manifest.vocabularies;
    for (what, pattern, vocabulary) in [
        ("artist", artists, &vocab.artists),
        ("genre", genres, &vocab.genres),
    ] {
        let Some(pattern) = pattern else { continue };
        let wanted = pattern.to_lowercase();
        let names: Vec<String> = labels::display_names(&manifest, vocabulary)
            .into_iter()
            .filter(|name| name.to_lowercase().contains(&wanted))
            .collect();
        anyhow::ensure!(
            !names.is_empty(),
            "no {what} of {} contains {pattern:?} (`encore models {} --{what}s` lists all)",
            manifest.model.name,
            dir.display()
        );
        for name in names {
            println!("{name}");
        }
    }
    Ok(())
}

fn describe_model(dir: &Path, verify: bool) -> anyhow::Result<()> {
    let manifest = load_manifest(dir)?;
    let check = if verify {
        Verify::Hashes
    } else {
        Verify::Sizes
    };
    manifest.verify_files(dir, check)?;
    let model = &manifest.model;
    println!(
        "{} ({:?}, {} weights)",
        model.name, model.kind, model.source
    );
    // Each file once: a prior's prefill and step graphs share one weights file.
    let bytes = manifest.total_bytes(dir)?;
    println!(
        "{} graphs, {:.1} MB, files {}",
        manifest.graphs.len(),
        bytes as f64 / 1e6,
        if verify {
            "verified (sha256)"
        } else {
            "checked (sizes; each sha256 once, remembered)"
        }
    );
    println!(
        "VQ-VAE hop lengths by level: {:?}",
        manifest.vqvae.hop_lengths
    );
    for prior in &manifest.priors {
        let cache_mib = prior
            .cache
            .bytes_per_sample
            .get(&Precision::Fp16)
            .copied()
            .unwrap_or(0) as f64
            / (1u64 << 20) as f64;
        println!(
            "prior level {}: {:?}, n_ctx {}, width {}, depth {}, fp16 cache {:.1} MiB per take",
            prior.level, prior.kind, prior.n_ctx, prior.width, prior.depth, cache_mib
        );
    }
    let vocab = &manifest.vocabularies;
    for (what, names, flag) in [
        (
            "artists",
            labels::display_names(&manifest, &vocab.artists),
            "--artists",
        ),
        (
            "genres",
            labels::display_names(&manifest, &vocab.genres),
            "--genres",
        ),
    ] {
        println!(
            "{} {what}, e.g. {}; list or search them with `encore models {} {flag} [PATTERN]`",
            names.len(),
            names
                .iter()
                .take(5)
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            dir.display()
        );
    }
    if manifest.model.source == WeightsSource::Random {
        println!("{TINY_MODEL_NOTE}");
    }
    Ok(())
}

/// The manifest of the model folder `dir`; when there is none, an error that says how a model
/// folder is made and lists the ones beside it.
pub fn load_manifest(dir: &Path) -> anyhow::Result<Manifest> {
    if dir.join("manifest.json").is_file() {
        return Ok(Manifest::load(dir)?);
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut models: Vec<String> = std::fs::read_dir(parent)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            path.join("manifest.json")
                .is_file()
                .then(|| path.display().to_string())
        })
        .collect();
    models.sort();
    let beside = if models.is_empty() {
        String::new()
    } else {
        format!(
            "; model folders in {}: {}",
            parent.display(),
            models.join(", ")
        )
    };
    anyhow::bail!(
        "{} is not a model folder (no manifest.json): export one from a Jukebox checkpoint \
         with `cargo xtask export --from DIR --out {}` (README, \"Use the real Jukebox\"), or \
         use a tiny test model such as models/tiny-1b-lyrics{beside}",
        dir.display(),
        dir.display()
    )
}
