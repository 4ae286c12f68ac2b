//! `encore continue` and `encore resume`: run a generation on a worker thread, draw a progress
//! bar per level, and write every finished take as a WAV file with a JSON sidecar.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use crossbeam_channel::unbounded;
use encore::audio::{self, WavFormat};
use encore::engine::{Checkpoint, Engine, EngineError, Event, Generation, Outcome, Settings};
use encore::jukebox::manifest::Verify;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

/// What the CLI keeps in the checkpoint to finish the job on `encore resume`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub prompt: PathBuf,
    pub out_dir: PathBuf,
    /// File names start with this (the prompt's stem).
    pub stem: String,
}

pub struct ContinueArgs {
    pub prompt: PathBuf,
    pub model: PathBuf,
    pub out_dir: PathBuf,
    pub checkpoint: Option<PathBuf>,
    pub verify: bool,
    pub settings: Settings,
}

pub fn continue_prompt(
    runtime: &'static encore::engine::Runtime,
    args: ContinueArgs,
) -> anyhow::Result<()> {
    let verify = if args.verify {
        Verify::Hashes
    } else {
        Verify::Sizes
    };
    let engine = Engine::load(&args.model, runtime, verify, None)?;
    let decoded = audio::read_audio_file(&args.prompt)?;
    let mut generation = Generation::new(engine, &decoded, args.settings).map_err(|e| match e {
        EngineError::Prompt(_) => {
            anyhow::Error::new(e).context(format!("prompt {}", args.prompt.display()))
        }
        other => other.into(),
    })?;
    fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;
    let stem = args
        .prompt
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let checkpoint = match args.checkpoint {
        Some(path) => path,
        None => unused_path(&args.out_dir, &format!("{stem}.checkpoint"), "json"),
    };
    let job = Job {
        prompt: args.prompt,
        out_dir: args.out_dir,
        stem,
    };
    generation.set_client_data(serde_json::to_value(&job)?);
    generation.set_checkpoint_path(Some(checkpoint.clone()));
    eprintln!(
        "seed {}; checkpoint {} (continue with `encore resume {}`)",
        generation.settings().seed,
        checkpoint.display(),
        checkpoint.display()
    );
    drive(generation, &job)
}

pub fn resume(runtime: &'static encore::engine::Runtime, path: &Path) -> anyhow::Result<()> {
    let checkpoint = Checkpoint::load(path)?;
    anyhow::ensure!(
        !checkpoint.done,
        "{} is a finished generation: nothing to resume",
        path.display()
    );
    let job: Job = serde_json::from_value(checkpoint.client.clone())
        .with_context(|| format!("{} was not written by `encore continue`", path.display()))?;
    let engine = Engine::load(&checkpoint.model_dir, runtime, Verify::Sizes, None)?;
    let mut generation = Generation::resume(engine, checkpoint)?;
    generation.set_checkpoint_path(Some(path.to_path_buf()));
    fs::create_dir_all(&job.out_dir)
        .with_context(|| format!("creating {}", job.out_dir.display()))?;
    drive(generation, &job)
}

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
    let checkpoint = generation.checkpoint_path().map(Path::to_path_buf);
    catch_interrupts();
    let rate = generation.engine().manifest().audio.sample_rate;
    let sidecar = Sidecar {
        prompt: job.prompt.clone(),
        model_dir: generation.engine().dir().to_path_buf(),
        model_name: generation.engine().manifest().model.name.clone(),
        prompt_seconds: generation.prompt_samples() as f64 / f64::from(rate),
        settings: generation.settings().clone(),
        take: 0,
        level: 0,
        sample_rate: rate,
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
                match write_take(job, &meta, &audio) {
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
        Outcome::Cancelled => match checkpoint {
            Some(path) => anyhow::bail!(
                "interrupted; continue with `encore resume {}`",
                path.display()
            ),
            None => anyhow::bail!("interrupted"),
        },
    }
}

/// The settings beside every take.
#[derive(Debug, Clone, Serialize)]
struct Sidecar {
    prompt: PathBuf,
    model_dir: PathBuf,
    model_name: String,
    prompt_seconds: f64,
    settings: Settings,
    take: usize,
    level: usize,
    sample_rate: u32,
}

/// Writes `STEM.takeN.levelL.wav` (a free name, never overwriting) and its `.json` sidecar.
fn write_take(job: &Job, meta: &Sidecar, samples: &[f32]) -> anyhow::Result<PathBuf> {
    let stem = format!("{}.take{}.level{}", job.stem, meta.take, meta.level);
    let path = audio::unused_wav_path(&job.out_dir, &stem);
    audio::write_wav_new(&path, samples, meta.sample_rate, WavFormat::Float32)?;
    let json_path = path.with_extension("json");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&json_path)
        .with_context(|| format!("creating {}", json_path.display()))?;
    let json = serde_json::to_string_pretty(meta)?;
    file.write_all(json.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", json_path.display()))?;
    Ok(path)
}

/// `dir/stem.ext`, or `dir/stem-2.ext`, ...: the first name not taken.
fn unused_path(dir: &Path, stem: &str, ext: &str) -> PathBuf {
    (1..)
        .map(|n| match n {
            1 => dir.join(format!("{stem}.{ext}")),
            n => dir.join(format!("{stem}-{n}.{ext}")),
        })
        .find(|p| !p.exists())
        .expect("an unbounded range always yields a free name")
}

fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}
