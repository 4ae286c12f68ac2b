//! `cargo xtask bench`: the criterion bench of per-call costs (benches/sampling.rs), then an
//! end-to-end continuation on a tiny model (examples/continue_bench.rs) that prints codes per
//! second, real-time factor and peak memory per level. Figures and how to read them:
//! docs/performance.md.

use std::process::Command;

use anyhow::{Result, bail};

use crate::python::run as run_command;

const USAGE: &str = "\
Usage: cargo xtask bench [--e2e-only] [--model DIR] [--seconds S] [--takes N] [--threads N]
  defaults: --model models/tiny-5b --seconds 2 --takes 1, ONNX Runtime's own thread count
";

pub fn run(args: &[String]) -> Result<()> {
    let mut e2e_only = false;
    let mut model = "models/tiny-5b".to_string();
    let mut seconds = "2".to_string();
    let mut takes = "1".to_string();
    let mut threads: Option<String> = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || match args.next() {
            Some(v) => Ok(v.clone()),
            None => bail!("{arg} needs a value\n\n{USAGE}"),
        };
        match arg.as_str() {
            "--e2e-only" => e2e_only = true,
            "--model" => model = value()?,
            "--seconds" => seconds = value()?,
            "--takes" => takes = value()?,
            "--threads" => threads = Some(value()?),
            other => bail!("unknown argument `{other}`\n\n{USAGE}"),
        }
    }
    if !e2e_only {
        run_command(Command::new("cargo").args(["bench", "--bench", "sampling"]))?;
        run_command(Command::new("cargo").args(["bench", "--bench", "checkpoint"]))?;
    }
    let mut e2e = Command::new("cargo");
    e2e.args([
        "run",
        "--release",
        "--quiet",
        "--example",
        "continue_bench",
        "--",
        &model,
        &seconds,
        &takes,
    ]);
    if let Some(threads) = &threads {
        e2e.arg(threads);
    }
    run_command(e2e.env("RUST_LOG", "off"))
}
