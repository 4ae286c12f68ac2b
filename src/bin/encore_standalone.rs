//! Encore as a standalone app (JACK, ALSA or a dummy backend): the editor without a host, for
//! trying Encore out and for the editor's screenshot tests.
//!
//! Besides nice-plug's own options (`--backend dummy`, `--tempo`, ... see `--help`) it takes:
//!   --model DIR         load this model folder when the editor opens (default: $ENCORE_MODEL_DIR)
//!   --prompt-file FILE  take the prompt from this audio file (no playing host needed)
//!   --continue          press Continue once ONNX Runtime and the model are ready
//! They do what the editor's own fields and buttons do.

use std::path::PathBuf;

use encore::plugin::{StartupRequest, request_on_startup};

const USAGE: &str = "Encore's own options:
  --model DIR         load this model folder when the editor opens (default: $ENCORE_MODEL_DIR)
  --prompt-file FILE  take the prompt from this audio file (no playing host needed)
  --continue          press Continue once ONNX Runtime and the model are ready
";

fn main() {
    let (request, rest) = match split_args(std::env::args()) {
        Ok(split) => split,
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
    }
    let model_dir = request
        .model_dir
        .or_else(|| std::env::var_os("ENCORE_MODEL_DIR").map(PathBuf::from));
    request_on_startup(StartupRequest {
        model_dir,
        ..request
    });
    nice_plug::wrapper::standalone::nice_export_standalone_with_args::<encore::Encore, _>(rest);
}

/// Encore's options, and every other argument (the program name first) for nice-plug.
fn split_args(
    args: impl IntoIterator<Item = String>,
) -> Result<(StartupRequest, Vec<String>), String> {
    let mut request = StartupRequest::default();
    let mut rest = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline_value) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name.to_string(), Some(value)),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| {
            inline_value
                .map(str::to_string)
                .or_else(|| args.next())
                .map(PathBuf::from)
                .ok_or_else(|| format!("{name} needs {what}"))
        };
        match name.as_str() {
            "--model" => request.model_dir = Some(value("a folder")?),
            "--prompt-file" => request.prompt_file = Some(value("an audio file")?),
            "--continue" => request.continue_when_ready = true,
            _ => rest.push(arg),
        }
    }
    Ok((request, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(args: &[&str]) -> Result<(StartupRequest, Vec<String>), String> {
        split_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn encore_options_are_taken_out_and_the_rest_passed_on() {
        let (request, rest) = split(&[
            "encore-standalone",
            "--backend",
            "dummy",
            "--model",
            "models/tiny",
            "--prompt-file=clip.wav",
            "--continue",
        ])
        .unwrap();
        assert_eq!(rest, ["encore-standalone", "--backend", "dummy"]);
        assert_eq!(
            request,
            StartupRequest {
                model_dir: Some("models/tiny".into()),
                prompt_file: Some("clip.wav".into()),
                continue_when_ready: true,
            }
        );
    }

    #[test]
    fn a_missing_value_is_an_error() {
        assert_eq!(
            split(&["encore-standalone", "--model"]).unwrap_err(),
            "--model needs a folder"
        );
    }
}
