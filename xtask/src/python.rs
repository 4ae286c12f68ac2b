//! The Python side: the exporter's venv and the host-test venv, each made on first use from a
//! pinned requirements file.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};

pub const EXPORT_VENV: &str = "target/venvs/export";
pub const HOSTS_VENV: &str = "target/venvs/hosts";
pub const EXPORT_REQUIREMENTS: &str = "models/export/requirements.txt";
pub const HOSTS_REQUIREMENTS: &str = "tests/hosts/requirements.txt";

pub fn system_python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Creates the venv if needed and (re)installs the requirements when they changed.
pub fn ensure_venv(venv: &str, requirements: &str) -> Result<PathBuf> {
    let python = Path::new(venv).join("bin/python");
    if !python.is_file() {
        run(Command::new(system_python()).args(["-m", "venv", venv]))?;
    }
    let wanted =
        std::fs::read_to_string(requirements).with_context(|| format!("reading {requirements}"))?;
    let stamp = Path::new(venv).join("installed-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        run(Command::new(&python).args(["-m", "pip", "install", "--quiet", "-r", requirements]))?;
        std::fs::write(&stamp, wanted)?;
    }
    Ok(python)
}

pub fn run_exporter(module: &str, args: &[String]) -> Result<()> {
    let python = ensure_venv(EXPORT_VENV, EXPORT_REQUIREMENTS)?;
    run(Command::new(python)
        .env("PYTHONPATH", "models/export")
        .args(["-m", module])
        .args(args))
}

pub fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("could not start {command:?}"))?;
    ensure!(status.success(), "{command:?} failed ({status})");
    Ok(())
}
