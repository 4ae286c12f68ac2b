//! `encore`: the command-line face of the engine.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use encore::engine::{RuntimeSearch, ensure_loaded};

#[derive(Parser)]
#[command(
    name = "encore",
    version,
    about = "Continue music with OpenAI's Jukebox"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check that ONNX Runtime can be loaded and say where it came from.
    Doctor {
        /// ONNX Runtime library to use instead of searching for one.
        #[arg(long, value_name = "PATH")]
        ort_library: Option<PathBuf>,
    },
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
    match cli.command {
        Command::Doctor { ort_library } => {
            let info = &ensure_loaded(&RuntimeSearch::from_this_binary(ort_library))?.info;
            println!("ONNX Runtime: {} ({})", info.path.display(), info.origin);
            println!("{}", info.build);
            Ok(())
        }
    }
}
