//! Writing finished takes: `STEM.takeN.levelL.wav` with a JSON sidecar, never overwriting.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use encore::audio::{self, WavFormat};
use encore::engine::Settings;
use serde::{Deserialize, Serialize};

/// What the CLI keeps in the checkpoint to finish the job on `encore resume`. Paths are
/// absolute, so the checkpoint works from any folder; the output folder is also kept relative
/// to the checkpoint's folder, for a takes folder moved together with its checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub prompt: PathBuf,
    pub out_dir: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_dir_relative: Option<PathBuf>,
    /// File names start with this: the prompt's stem, with `-2`, `-3`, ... for a later run
    /// into the same folder, so two runs' files never mix.
    pub stem: String,
    /// Takes hold only the continuation, not the prompt's re-synthesis before it.
    #[serde(default)]
    pub continuation_only: bool,
    /// Sample rate of the written takes; `None`: the model's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    /// Set when the generation continues a take of another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_take: Option<TakeOrigin>,
}

/// The take a `continue-take` generation started from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TakeOrigin {
    pub checkpoint: PathBuf,
    pub take: usize,
    /// Where the take was cut (the new part starts there), seconds from the song's start.
    pub at_seconds: f64,
}

/// The settings beside every take.
#[derive(Debug, Clone, Serialize)]
pub struct Sidecar {
    pub prompt: PathBuf,
    pub model_dir: PathBuf,
    pub model_name: String,
    pub prompt_seconds: f64,
    pub settings: Settings,
    pub take: usize,
    pub level: usize,
    /// The WAV's rate.
    pub sample_rate: u32,
    /// The WAV starts where the continuation starts (else at the prompt's start).
    pub continuation_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_take: Option<TakeOrigin>,
}

impl Job {
    /// A take's audio as this job writes it: `audio` (at `model_rate`, the prompt's
    /// `prompt_samples` first) without the prompt when asked, at the job's rate.
    pub fn take_audio(
        &self,
        audio: &[f32],
        model_rate: u32,
        prompt_samples: usize,
    ) -> anyhow::Result<Vec<f32>> {
        let audio = if self.continuation_only {
            &audio[prompt_samples.min(audio.len())..]
        } else {
            audio
        };
        let rate = self.sample_rate.unwrap_or(model_rate);
        Ok(audio::resample_mono(audio, model_rate, rate)?)
    }
}

/// Writes `STEM.takeN.levelL.wav` (a free name, never overwriting) and its `.json` sidecar.
pub fn write_take(job: &Job, meta: &Sidecar, samples: &[f32]) -> anyhow::Result<PathBuf> {
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

/// The first of `stem`, `stem-2`, `stem-3`, ... that no file in `dir` starts with (as
/// `STEM.`), taken by creating its checkpoint file `STEM.checkpoint.json` there (when
/// `checkpoint_here`), so two runs starting at once never share a stem.
pub fn claim_stem(dir: &Path, stem: &str, checkpoint_here: bool) -> anyhow::Result<String> {
    let taken: Vec<String> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| Some(entry.ok()?.file_name().to_string_lossy().into_owned()))
        .collect();
    for n in 1.. {
        let candidate = match n {
            1 => stem.to_string(),
            n => format!("{stem}-{n}"),
        };
        let prefix = format!("{candidate}.");
        if taken.iter().any(|name| name.starts_with(&prefix)) {
            continue;
        }
        if !checkpoint_here {
            return Ok(candidate);
        }
        let checkpoint = dir.join(format!("{candidate}.checkpoint.json"));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&checkpoint)
        {
            Ok(_) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("creating {}", checkpoint.display()));
            }
        }
    }
    unreachable!("an unbounded range always yields a free stem")
}

/// `dir/stem.ext`, or `dir/stem-2.ext`, ...: the first name not taken.
pub fn unused_path(dir: &Path, stem: &str, ext: &str) -> PathBuf {
    (1..)
        .map(|n| match n {
            1 => dir.join(format!("{stem}.{ext}")),
            n => dir.join(format!("{stem}-{n}.{ext}")),
        })
        .find(|p| !p.exists())
        .expect("an unbounded range always yields a free name")
}
