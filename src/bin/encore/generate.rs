//! `encore continue`, `resume`, `upsample` and `continue-take`: set a generation up, run it on
//! a worker thread, draw a progress bar per level, and write every finished take as a WAV file
//! with a JSON sidecar.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use crossbeam_channel::unbounded;
use encore::audio;
use encore::engine::generation::{absolute_path, found_path, relative_path};
use encore::engine::{
    Checkpoint, Device, DevicePreference, Engine, EngineError, EngineOptions, Event, Generation,
    Outcome, Runtime, Settings, TakeCut,
};
use encore::jukebox::manifest::Verify;
use encore::jukebox::{Precision, WeightsSource};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::args::{ContinueCli, ContinueTakeCli, ModelOverrideCli, OutputCli, UpsampleCli};
use crate::estimate;
use crate::takes::{Job, Sidecar, TakeOrigin, claim_stem, unused_path, write_take};

/// ONNX Runtime and the device the user asked for: how every command opens its model.
#[derive(Clone, Copy)]
pub struct Backend {
    pub runtime: &'static Runtime,
    pub device: DevicePreference,
    /// The priors' precision, if the user chose one.
    pub precision: Option<Precision>,
    /// On CUDA, replay the steps as CUDA graphs.
    pub cuda_graphs: bool,
}

impl Backend {
    fn open(&self, dir: &Path, verify: Verify) -> Result<Engine, EngineError> {
        let options = EngineOptions {
            verify,
            intra_threads: None,
            device: self.device,
            precision: self.precision,
            cuda_graphs: self.cuda_graphs,
        };
        Engine::open(dir, self.runtime, options)
    }
}

pub fn continue_prompt(mut backend: Backend, args: ContinueCli) -> anyhow::Result<()> {
    backend.cuda_graphs &= !args.no_cuda_graphs;
    let lyrics = match &args.lyrics_file {
        Some(path) => fs::read_to_string(path)
            .with_context(|| format!("reading lyrics {}", path.display()))?,
        None => String::new(),
    };
    let mut settings = args.sampling.apply(Settings::new(args.seconds, 0));
    settings.target_level = args.level;
    settings.artist = args.artist;
    settings.genres = args.genre;
    settings.lyrics = lyrics;
    anyhow::ensure!(
        args.prompt_seconds > 0.0 && args.prompt_seconds.is_finite(),
        "--prompt-seconds must be a positive number of seconds, not {}",
        args.prompt_seconds
    );
    crate::load_manifest(&args.model)?;
    let verify = if args.verify {
        Verify::Hashes
    } else {
        Verify::Sizes
    };
    let engine = backend.open(&args.model, verify)?;
    let mut decoded = audio::read_audio_file(&args.prompt)?;
    let dropped = decoded.keep_last(args.prompt_seconds);
    if dropped > 0.0 {
        eprintln!(
            "prompt: the last {:.1} s of {} (--prompt-seconds; {dropped:.1} s before them left out)",
            args.prompt_seconds,
            args.prompt.display()
        );
    }
    let generation = Generation::new(engine, &decoded, settings).map_err(|e| match e {
        EngineError::Prompt(_) => {
            anyhow::Error::new(e).context(format!("prompt {}", args.prompt.display()))
        }
        other => other.into(),
    })?;
    let job = Job {
        out_dir: args.output.out_dir.clone().unwrap_or_else(|| ".".into()),
        out_dir_relative: None,
        stem: file_stem(&args.prompt),
        continuation_only: false,
        sample_rate: None,
        prompt: absolute_path(&args.prompt),
        from_take: None,
    };
    start(generation, job, &args.output, Stem::OfItsOwn)
}

pub fn resume(backend: Backend, path: &Path, model: &ModelOverrideCli) -> anyhow::Result<()> {
    catch_interrupts();
    let checkpoint = load_checkpoint(path, model)?;
    if checkpoint.state.done {
        let level = checkpoint.state.settings.target_level;
        let finer = match level {
            0 => String::new(),
            level => format!(
                "take it to a finer level with `encore upsample {} --level {}`, or ",
                path.display(),
                level - 1
            ),
        };
        anyhow::bail!(
            "{} is a finished generation (down to level {level}): nothing to resume; {finer}\
             sample on from a take with `encore continue-take {} --take N`",
            path.display(),
            path.display()
        );
    }
    let mut job: Job = serde_json::from_value(checkpoint.state.client.clone())
        .with_context(|| format!("{} was not written by `encore`", path.display()))?;
    job.out_dir = stored_out_dir(&job, path);
    let engine = backend.open(&checkpoint.model_dir, Verify::Sizes)?;
    let mut generation = Generation::resume(engine, checkpoint)?;
    generation.set_checkpoint_path(Some(path.to_path_buf()));
    fs::create_dir_all(&job.out_dir)
        .with_context(|| format!("creating {}", job.out_dir.display()))?;
    drive(generation, &job)
}

pub fn upsample(backend: Backend, args: UpsampleCli) -> anyhow::Result<()> {
    let checkpoint = load_checkpoint(&args.source, &args.model)?;
    let mut job = source_job(&checkpoint, &args.source);
    job.out_dir = args.output.out_dir.clone().unwrap_or(job.out_dir);
    let engine = backend.open(&checkpoint.model_dir, Verify::Sizes)?;
    let generation = Generation::upsample(engine, checkpoint, args.level, &args.takes)
        .with_context(|| format!("upsampling {}", args.source.display()))?;
    start(generation, job, &args.output, Stem::TheSources)
}

pub fn continue_take(backend: Backend, args: ContinueTakeCli) -> anyhow::Result<()> {
    let checkpoint = load_checkpoint(&args.source, &args.model)?;
    let source = source_job(&checkpoint, &args.source);
    let engine = backend.open(&checkpoint.model_dir, Verify::Sizes)?;
    let context = || format!("take {} of {}", args.take, args.source.display());
    let cut = TakeCut {
        take: args.take,
        at_seconds: args.at,
    };
    let span = checkpoint
        .take_span(engine.manifest(), cut)
        .with_context(context)?;
    let rate = f64::from(engine.manifest().audio.sample_rate);
    let original = &checkpoint.state.settings;
    let seconds = match (args.seconds, args.at) {
        (Some(seconds), _) => seconds,
        (None, Some(_)) => (span.end - span.at) as f64 / rate,
        (None, None) => original.seconds,
    };
    anyhow::ensure!(
        seconds > 0.0,
        "the cut is at the end of take {}: say how much to add with --seconds",
        args.take
    );
    let mut settings = args.sampling.apply(original.clone());
    settings.seconds = seconds;
    settings.target_level = args.level.unwrap_or(original.target_level);
    let generation =
        Generation::continue_take(engine, &checkpoint, cut, settings).with_context(context)?;
    let at_seconds = span.at as f64 / rate;
    let job = Job {
        out_dir: args.output.out_dir.clone().unwrap_or(source.out_dir),
        out_dir_relative: None,
        stem: format!("{}.take{}.from{at_seconds:.2}s", source.stem, args.take),
        continuation_only: source.continuation_only,
        sample_rate: source.sample_rate,
        prompt: source.prompt,
        from_take: Some(TakeOrigin {
            checkpoint: absolute_path(&args.source),
            take: args.take,
            at_seconds,
        }),
    };
    start(generation, job, &args.output, Stem::OfItsOwn)
}

/// The checkpoint at `path`, its model folder replaced by `--model` when given. Without it, a
/// model folder that is in neither place the checkpoint keeps is an error saying so.
fn load_checkpoint(path: &Path, model: &ModelOverrideCli) -> anyhow::Result<Checkpoint> {
    let mut checkpoint = Checkpoint::load(path)?;
    match &model.dir {
        Some(dir) => {
            crate::load_manifest(dir)?;
            checkpoint.model_dir = absolute_path(dir);
        }
        None => anyhow::ensure!(
            checkpoint.model_dir.is_dir(),
            "the model folder of {} is not at {} (nor where it was relative to the checkpoint): \
             if it moved, give its new place with --model DIR",
            path.display(),
            checkpoint.model_dir.display()
        ),
    }
    Ok(checkpoint)
}

/// The job's output folder now: where it was, or where it is relative to the checkpoint at
/// `checkpoint` (a takes folder moved with its checkpoint).
fn stored_out_dir(job: &Job, checkpoint: &Path) -> PathBuf {
    let folder = checkpoint.parent().unwrap_or(Path::new(""));
    found_path(&job.out_dir, job.out_dir_relative.as_deref(), folder)
}

/// Where the generation in `checkpoint` wrote its takes: its `encore` job, or for a checkpoint
/// from elsewhere (the plugin) the checkpoint's folder and name.
fn source_job(checkpoint: &Checkpoint, path: &Path) -> Job {
    let job = serde_json::from_value(checkpoint.state.client.clone()).map(|mut job: Job| {
        job.out_dir = stored_out_dir(&job, path);
        job
    });
    job.unwrap_or_else(|_| {
        let stem = file_stem(path);
        Job {
            prompt: absolute_path(path),
            out_dir: absolute_path(path.parent().unwrap_or(Path::new("."))),
            out_dir_relative: None,
            stem: stem
                .strip_suffix(".checkpoint")
                .unwrap_or(&stem)
                .to_string(),
            continuation_only: false,
            sample_rate: None,
            from_take: None,
        }
    })
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// How a generation's files are named.
enum Stem {
    /// A stem no file in the folder has yet (`chord`, else `chord-2`, ...): a new generation.
    OfItsOwn,
    /// The source generation's: its takes at more levels, beside its files.
    TheSources,
}

/// Creates the output folder, names the files and the checkpoint, tells the user and runs
/// `generation`.
fn start(
    mut generation: Generation,
    mut job: Job,
    output: &OutputCli,
    stem: Stem,
) -> anyhow::Result<()> {
    catch_interrupts();
    job.out_dir = absolute_path(&job.out_dir);
    job.continuation_only |= output.continuation_only;
    job.sample_rate = output.sample_rate.or(job.sample_rate);
    fs::create_dir_all(&job.out_dir)
        .with_context(|| format!("creating {}", job.out_dir.display()))?;
    if let Stem::OfItsOwn = stem {
        job.stem = claim_stem(&job.out_dir, &job.stem, output.checkpoint.is_none())?;
    }
    let checkpoint: PathBuf = match (&output.checkpoint, stem) {
        (Some(path), _) => path.clone(),
        (None, Stem::OfItsOwn) => job.out_dir.join(format!("{}.checkpoint.json", job.stem)),
        (None, Stem::TheSources) => {
            unused_path(&job.out_dir, &format!("{}.checkpoint", job.stem), "json")
        }
    };
    job.out_dir_relative = relative_path(
        &absolute_path(checkpoint.parent().unwrap_or(Path::new(""))),
        &job.out_dir,
    );
    generation.set_client_data(serde_json::to_value(&job)?);
    generation.set_checkpoint_path(Some(checkpoint.clone()));
    // Resumable from the first moment (and the claimed name holds a checkpoint, not nothing).
    generation.checkpoint().save(&checkpoint)?;
    eprintln!(
        "priors in {} on {}; seed {}; checkpoint {} (continue with `encore resume {}`)",
        generation.engine().prior_precision(),
        generation.engine().device(),
        generation.settings().seed,
        checkpoint.display(),
        checkpoint.display()
    );
    drive(generation, &job)
}

/// Says, before it starts, what a user should know about a run: that its takes are not music
/// (a random-weight test model), that it will take hours on the CPU (a full-size model at level
/// 0), that its batch of takes needs a lot of memory.
fn warn_before_start(generation: &Generation) {
    let engine = generation.engine();
    let manifest = engine.manifest();
    if manifest.model.source == WeightsSource::Random {
        eprintln!(
            "note: {} has {}",
            manifest.model.name,
            crate::TINY_MODEL_NOTE
        );
    }
    let state = generation.checkpoint().state;
    let takes = state.settings.takes;
    let precision = engine.prior_precision();
    if let Some(warning) =
        estimate::takes_warning(takes, estimate::cache_bytes(manifest, precision, takes))
    {
        eprintln!("{warning}");
    }
    if engine.device() != Device::Cpu {
        return;
    }
    let top = manifest.vqvae.levels - 1;
    // The levels still to sample: the target's and those above it not finished yet.
    let first = (state.settings.target_level..=top)
        .rev()
        .find(|&level| state.finished.get(level).is_none_or(Option::is_none));
    let Some(first) = first else { return };
    let seconds = state.settings.seconds;
    let levels = state.settings.target_level..=first;
    let Some(estimate) = estimate::cpu_seconds(manifest, precision, levels, seconds, takes) else {
        return;
    };
    let preview = (first == top && state.settings.target_level < top)
        .then(|| estimate::cpu_seconds(manifest, precision, top..=top, seconds, takes))
        .flatten();
    let gpu = encore::engine::device::nvidia_driver_present();
    if let Some(warning) = estimate::cpu_warning(estimate, preview, gpu) {
        eprintln!("{warning}");
    }
}

/// A generation stopped by Ctrl-C (or SIGTERM), its checkpoint saved: the program exits with
/// 130, as shells expect of a program interrupted by the user.
#[derive(Debug)]
pub struct Interrupted {
    checkpoint: Option<PathBuf>,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.checkpoint {
            Some(path) => write!(
                f,
                "interrupted; continue with `encore resume {}`",
                path.display()
            ),
            None => f.write_str("interrupted"),
        }
    }
}

impl std::error::Error for Interrupted {}

/// Set by Ctrl-C: the generation stops within one step and saves its checkpoint.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Release);
}

/// Routes Ctrl-C (SIGINT) and SIGTERM to [`INTERRUPTED`].
fn catch_interrupts() {
    let handler = on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe, and
        // `signal` has no other preconditions.
        unsafe {
            libc::signal(signal, handler);
        }
    }
}

/// Runs `generation` on a worker thread; this thread draws progress and writes the takes.
fn drive(mut generation: Generation, job: &Job) -> anyhow::Result<()> {
    warn_before_start(&generation);
    let checkpoint = generation.checkpoint_path().map(Path::to_path_buf);
    catch_interrupts();
    let rate = generation.engine().manifest().audio.sample_rate;
    let prompt_samples = generation.prompt_samples();
    let sidecar = Sidecar {
        prompt: job.prompt.clone(),
        model_dir: generation.engine().dir().to_path_buf(),
        model_name: generation.engine().manifest().model.name.clone(),
        prompt_seconds: generation.prompt_samples() as f64 / f64::from(rate),
        settings: generation.settings().clone(),
        take: 0,
        level: 0,
        sample_rate: job.sample_rate.unwrap_or(rate),
        continuation_only: job.continuation_only,
        from_take: job.from_take.clone(),
    };
    let cancel: &'static AtomicBool = &INTERRUPTED;
    let (tx, rx) = unbounded();
    let worker = std::thread::spawn(move || generation.run(&tx, cancel));
    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("level {prefix} [{bar:32}] {pos}/{len} codes  {msg}")
        .expect("the template is valid")
        .progress_chars("=> ");
    // Lines above the bars; plain stderr when there are no bars (not a terminal).
    let say = |line: String| {
        if bars.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = bars.println(line);
        }
    };
    let mut bar: Option<ProgressBar> = None;
    let mut written = Vec::new();
    let mut failure = None;
    for event in rx.iter() {
        match event {
            Event::Device { device, reason } => {
                say(format!("device: {device} ({reason})"));
            }
            Event::LevelStarted { level, total } => {
                let b = bars.add(ProgressBar::new(total as u64).with_style(style.clone()));
                b.set_prefix(level.to_string());
                bar = Some(b);
            }
            Event::Progress {
                done,
                codes_per_second,
                eta,
                ..
            } => {
                if let Some(b) = &bar {
                    b.set_position(done as u64);
                    b.set_message(format!(
                        "{codes_per_second:.0} codes/s  ETA {}",
                        eta.map_or_else(|| "-".into(), format_duration)
                    ));
                }
            }
            Event::TakeFinished {
                take, level, audio, ..
            } => {
                if let Some(b) = bar.take() {
                    b.finish();
                }
                let meta = Sidecar {
                    take,
                    level,
                    ..sidecar.clone()
                };
                let written_take = job
                    .take_audio(&audio, rate, prompt_samples)
                    .and_then(|audio| write_take(job, &meta, &audio));
                match written_take {
                    Ok(path) => {
                        let _ =
                            bars.println(format!("take {take} level {level}: {}", path.display()));
                        written.push(path);
                    }
                    Err(e) => {
                        cancel.store(true, Ordering::Release);
                        failure.get_or_insert(e);
                    }
                }
            }
            Event::Audio { .. } | Event::Checkpointed { .. } => {}
            Event::Finished | Event::Cancelled | Event::Error(_) => {}
        }
    }
    let outcome = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the generation thread panicked"))?;
    if let Some(e) = failure {
        return Err(e);
    }
    match outcome? {
        Outcome::Finished => {
            for path in written {
                println!("{}", path.display());
            }
            Ok(())
        }
        Outcome::Cancelled => Err(Interrupted { checkpoint }.into()),
    }
}

fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}
