//! `encore`: the command-line face of the engine.

#[path = "encore/generate.rs"]
mod generate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use encore::audio::{self, WavFormat};
use encore::engine::{RuntimeSearch, SessionFactory, Settings, Vqvae, ensure_loaded};
use encore::jukebox::Manifest;
use encore::jukebox::manifest::Verify;

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check that ONNX Runtime can be loaded and say where it came from.
    Doctor,
    /// Describe an exported model folder and check its files.
    Models {
        /// The model folder (holds manifest.json).
        dir: PathBuf,
        /// Also check every file's sha256 (reads every byte).
        #[arg(long)]
        verify: bool,
    },
    /// Encode a prompt with the VQ-VAE and decode it again: hear what the model hears at a level.
    Reconstruct {
        /// Audio file: WAV, FLAC, MP3 or OGG, any sample rate and channel count.
        prompt: PathBuf,
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
    },
}

#[derive(clap::Args)]
struct ContinueCli {
    /// Audio file: WAV, FLAC, MP3 or OGG, any sample rate and channel count.
    prompt: PathBuf,
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Seconds of new audio after the prompt.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Takes, sampled together as one batch.
    #[arg(long, default_value_t = 1)]
    takes: usize,
    /// Last level to sample: 2 = quick lo-fi preview, 1, 0 = full quality (slowest).
    #[arg(long, default_value_t = 0)]
    level: usize,
    /// Artist to condition on (as listed by `encore models`); default: unknown.
    #[arg(long)]
    artist: Option<String>,
    /// Genre to condition on; repeat for several.
    #[arg(long)]
    genre: Vec<String>,
    /// Lyrics (text file) for lyrics models.
    #[arg(long, value_name = "FILE")]
    lyrics_file: Option<PathBuf>,
    /// Song length the top level is told, in seconds (default: 180, or longer if needed).
    #[arg(long)]
    song_seconds: Option<f64>,
    /// Sampling temperature (default: the model's, per level).
    #[arg(long)]
    temperature: Option<f32>,
    /// Keep only the k most likely codes (0 = off).
    #[arg(long)]
    top_k: Option<usize>,
    /// Keep the most likely codes up to this probability (0 = off).
    #[arg(long)]
    top_p: Option<f32>,
    /// Seed: the same seed, prompt and settings give the same takes (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Folder for the takes (never overwritten: free names are chosen).
    #[arg(long, value_name = "DIR", default_value = ".")]
    out_dir: PathBuf,
    /// Checkpoint file (default: PROMPT_STEM.checkpoint.json in --out-dir).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Check every model file's sha256 before starting.
    #[arg(long)]
    verify: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let search = RuntimeSearch::from_this_binary(cli.ort_library);
    match cli.command {
        Command::Doctor => {
            let info = &ensure_loaded(&search)?.info;
            println!("ONNX Runtime: {} ({})", info.path.display(), info.origin);
            println!("{}", info.build);
            Ok(())
        }
        Command::Models { dir, verify } => describe_model(&dir, verify),
        Command::Continue(args) => {
            let runtime = ensure_loaded(&search)?;
            let lyrics = match &args.lyrics_file {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("reading lyrics {}", path.display()))?,
                None => String::new(),
            };
            let seed = args.seed.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64)
            });
            let mut settings = Settings::new(args.seconds, seed);
            settings.takes = args.takes;
            settings.target_level = args.level;
            settings.artist = args.artist;
            settings.genres = args.genre;
            settings.lyrics = lyrics;
            settings.song_seconds = args.song_seconds;
            settings.temperature = args.temperature;
            settings.top_k = args.top_k;
            settings.top_p = args.top_p;
            generate::continue_prompt(
                runtime,
                generate::ContinueArgs {
                    prompt: args.prompt,
                    model: args.model,
                    out_dir: args.out_dir,
                    checkpoint: args.checkpoint,
                    verify: args.verify,
                    settings,
                },
            )
        }
        Command::Resume { checkpoint } => generate::resume(ensure_loaded(&search)?, &checkpoint),
        Command::Reconstruct {
            prompt,
            model,
            level,
            out_dir,
        } => {
            let runtime = ensure_loaded(&search)?;
            let manifest = Manifest::load(&model)?;
            manifest.verify_files(&model, Verify::Sizes)?;
            anyhow::ensure!(
                level < manifest.vqvae.levels,
                "level {level} does not exist: the model has levels 0 to {}",
                manifest.vqvae.levels - 1
            );
            let mut vqvae = Vqvae::open(&model, &manifest, &SessionFactory::cpu(runtime), "fp32")?;
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

fn describe_model(dir: &Path, verify: bool) -> anyhow::Result<()> {
    let manifest = Manifest::load(dir)?;
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
    let bytes: u64 = manifest
        .graphs
        .iter()
        .map(|g| g.bytes + g.external_data.as_ref().map_or(0, |d| d.bytes))
        .sum();
    println!(
        "{} graphs, {:.1} MB, files {}",
        manifest.graphs.len(),
        bytes as f64 / 1e6,
        if verify {
            "verified (sha256)"
        } else {
            "present (sizes checked)"
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
            .get("fp16")
            .copied()
            .unwrap_or(0) as f64
            / (1u64 << 20) as f64;
        println!(
            "prior level {}: {:?}, n_ctx {}, width {}, depth {}, fp16 cache {:.1} MiB per take",
            prior.level, prior.kind, prior.n_ctx, prior.width, prior.depth, cache_mib
        );
    }
    let vocab = &manifest.vocabularies;
    let mut artists: Vec<_> = vocab.artists.keys().collect();
    artists.sort();
    println!(
        "{} artists, e.g. {:?}",
        artists.len(),
        &artists[..artists.len().min(5)]
    );
    let mut genres: Vec<_> = vocab.genres.keys().collect();
    genres.sort();
    println!(
        "{} genres, e.g. {:?}",
        genres.len(),
        &genres[..genres.len().min(5)]
    );
    Ok(())
}
