//! The arguments of the generating subcommands, and how they become engine settings.

use std::path::PathBuf;

use encore::engine::Settings;

/// How takes are sampled: shared by `continue` and `continue-take`.
#[derive(clap::Args)]
pub struct SamplingCli {
    /// Takes, sampled together as one batch.
    #[arg(long, default_value_t = 1)]
    pub takes: usize,
    /// Sampling temperature (default: the model's, per level).
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Keep only the k most likely codes (0 = off).
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Keep the most likely codes up to this probability (0 = off).
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Seed: the same seed, prompt and settings give the same takes (default: from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Song length the top level is told, in seconds (default: 180, or longer if needed).
    #[arg(long, allow_negative_numbers = true)]
    pub song_seconds: Option<f64>,
}

impl SamplingCli {
    /// `settings` with these arguments applied (a flag left out keeps the setting).
    pub fn apply(&self, mut settings: Settings) -> Settings {
        settings.takes = self.takes;
        settings.seed = self.seed.unwrap_or_else(seed_from_clock);
        settings.temperature = self.temperature.or(settings.temperature);
        settings.top_k = self.top_k.or(settings.top_k);
        settings.top_p = self.top_p.or(settings.top_p);
        settings.song_seconds = self.song_seconds.or(settings.song_seconds);
        settings
    }
}

fn seed_from_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[derive(clap::Args)]
pub struct ContinueCli {
    /// Audio file: WAV, FLAC, MP3 or OGG, any sample rate and channel count.
    pub prompt: PathBuf,
    /// The exported model folder (holds manifest.json), e.g. models/tiny-1b-lyrics, or one
    /// `cargo xtask export` wrote.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Seconds of new audio after the prompt.
    #[arg(long, default_value_t = 20.0, allow_negative_numbers = true)]
    pub seconds: f64,
    /// Seconds of the prompt file's end that prime the model (a whole song can be the prompt;
    /// the top prior hears about its last 24 s anyway). Default: the plugin's, 40.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = encore::audio::PROMPT_KEEP_SECONDS,
        allow_negative_numbers = true
    )]
    pub prompt_seconds: f64,
    /// Last level to sample: 2 = a quick lo-fi preview (the default, as in the plugin: take the
    /// takes you like further with `encore upsample`), 1, or 0 = full quality (slowest: hours
    /// for a real model on the CPU).
    #[arg(long, default_value_t = 2)]
    pub level: usize,
    /// Artist to condition on, as `encore models DIR --artists [PATTERN]` lists them (a real
    /// model knows thousands); default: unknown.
    #[arg(long)]
    pub artist: Option<String>,
    /// Genre to condition on (`encore models DIR --genres [PATTERN]` lists them); repeat for several (up to 5; 1b_lyrics takes one). A genre of
    /// several words ("Country Rock") is one genre: 5b models read it as a bag of words.
    #[arg(long)]
    pub genre: Vec<String>,
    /// Lyrics (text file) for lyrics models.
    #[arg(long, value_name = "FILE")]
    pub lyrics_file: Option<PathBuf>,
    #[command(flatten)]
    pub sampling: SamplingCli,
    #[command(flatten)]
    pub output: OutputCli,
    /// Check every model file's sha256 before starting.
    #[arg(long)]
    pub verify: bool,
    /// On CUDA, run every step uncaptured instead of replaying it as a CUDA graph.
    #[arg(long)]
    pub no_cuda_graphs: bool,
}

/// Where a generating subcommand writes.
#[derive(clap::Args)]
pub struct OutputCli {
    /// Folder for the takes (never overwritten: free names are chosen). Default: the current
    /// folder for `continue`, the source generation's folder for the others.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Checkpoint file (default: STEM.checkpoint.json in the output folder).
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Write only the new audio: without it a take starts with the prompt as the model
    /// re-synthesised it, then the continuation (the times of `continue-take --at` count from
    /// there). `resume` and the follow-ups of a generation keep its choice.
    #[arg(long)]
    pub continuation_only: bool,
    /// Sample rate of the takes' WAV files in Hz, e.g. 48000 (default: the model's, 44100).
    /// `resume` and the follow-ups of a generation keep its choice.
    #[arg(long, value_name = "HZ", value_parser = clap::value_parser!(u32).range(8000..=384000))]
    pub sample_rate: Option<u32>,
}

#[derive(clap::Args)]
pub struct UpsampleCli {
    /// The finished generation's checkpoint (`continue` names it when it starts).
    pub source: PathBuf,
    #[command(flatten)]
    pub model: ModelOverrideCli,
    /// Level to go down to: 1, or 0 = full quality.
    #[arg(long, default_value_t = 0)]
    pub level: usize,
    /// Take to upsample (as numbered in its file names); repeat for several. Default: all.
    #[arg(long = "take", value_name = "N")]
    pub takes: Vec<usize>,
    #[command(flatten)]
    pub output: OutputCli,
}

#[derive(clap::Args)]
pub struct ContinueTakeCli {
    /// The checkpoint of the generation the take belongs to.
    pub source: PathBuf,
    #[command(flatten)]
    pub model: ModelOverrideCli,
    /// The take (as numbered in its file names).
    #[arg(long, value_name = "N")]
    pub take: usize,
    /// Keep the take up to this time (seconds from the start of the prompt) and sample anew
    /// from there; default: its end (extend the take).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub at: Option<f64>,
    /// Seconds of new audio after the cut. Default: what the take had after --at
    /// (re-generate), or the source generation's length (extend).
    #[arg(long, allow_negative_numbers = true)]
    pub seconds: Option<f64>,
    /// Last level to sample (default: the source generation's).
    #[arg(long)]
    pub level: Option<usize>,
    #[command(flatten)]
    pub sampling: SamplingCli,
    #[command(flatten)]
    pub output: OutputCli,
}

/// A model folder that replaces the one a checkpoint names: shared by `resume`, `upsample` and
/// `continue-take`.
#[derive(clap::Args)]
pub struct ModelOverrideCli {
    /// The model folder, when it is no longer where the checkpoint says (moved, or on another
    /// machine); it must hold the same model. Default: the checkpoint's.
    #[arg(long = "model", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}
