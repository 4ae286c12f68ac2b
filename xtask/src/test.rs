//! `cargo xtask test`: everything CI checks, in the order that fails fastest.

use std::process::Command;

use anyhow::{Result, bail};

use crate::bundle;
use crate::gpu_check;
use crate::python::{self, HOSTS_REQUIREMENTS, HOSTS_VENV, run as run_command};

pub fn run_all(skip_python: bool) -> Result<()> {
    run_command(Command::new("cargo").args(["fmt", "--all", "--", "--check"]))?;
    run_command(Command::new("cargo").args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The debug bundle is what the host tests load: `assert_process_allocs` is active in it.
    bundle::run(&[])?;
    bundle::assert_bundles_exist()?;
    run_command(Command::new("cargo").args(["test", "--workspace"]))?;
    if skip_python {
        return Ok(());
    }
    let hosts_python = python::ensure_venv(HOSTS_VENV, HOSTS_REQUIREMENTS)?;
    run_command(Command::new(hosts_python).args(["-m", "pytest", "-q", "tests/hosts"]))?;
    let export_python = python::ensure_venv(python::EXPORT_VENV, python::EXPORT_REQUIREMENTS)?;
    run_command(
        Command::new(export_python)
            .env("PYTHONPATH", "models/export")
            .args(["-m", "pytest", "-q", "models/export/tests"]),
    )?;
    // The GPU check's sequence on the CPU, so that every line of it has run before a device
    // is lent (about 2 minutes: one tiny export, the reference, Encore's steps, one test).
    gpu_check::run(&["--cpu".into(), "--quick".into()])?;
    Ok(())
}

pub fn run(args: &[String]) -> Result<()> {
    match args {
        [] => run_all(false),
        [flag] if flag == "--rust-only" => run_all(true),
        _ => bail!("usage: cargo xtask test [--rust-only]"),
    }
}
