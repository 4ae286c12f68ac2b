//! `cargo xtask`: the project's own commands next to nice-plug's bundler.

mod bench;
mod bundle;
mod gpu_check;
mod install;
mod python;
mod setup;
mod test;

use anyhow::{Result, bail};

const USAGE: &str = "\
Usage: cargo xtask <command> [args]

  setup [--gpu]          install ONNX Runtime 1.31.1 from PyPI wheels into runtime/
                         (--gpu: onnxruntime-gpu and the CUDA 13 libraries it needs)
  install [--prefix DIR] the release `encore` into DIR/bin and ONNX Runtime into DIR/lib/encore
                         (default DIR: ~/.local)
  bundle [--release]     build target/bundled/Encore.{vst3,clap} with ONNX Runtime inside
  test                   the whole test suite: fmt, clippy, cargo tests, bundle, host tests,
                         exporter parity tests
  bench [--e2e-only]     criterion bench of prior steps and VQ-VAE decodes on the tiny models,
                         then an end-to-end continuation table (docs/performance.md)
  gpu-check pack         prepare the GPU check (binaries, ONNX Runtime GPU parts, wheels under
                         target/gpu-check/) and print the device calls to make
  gpu-check --cpu [..]   the GPU check's sequence here on the tiny models (--quick: CI's form;
                         --full-size --model DIR: the CPU side-by-side of docs/performance.md)
  export ARGS..          run the Jukebox exporter (models/export) in its own venv
  fixtures               rebuild the tiny test models and their goldens
";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    // Paths the user typed (install's --prefix) are relative to where they ran cargo.
    let invoked_in = std::env::current_dir()?;
    nice_plug_xtask::chdir_workspace_root()?;
    match command.as_str() {
        "setup" => setup::run(&rest),
        "install" => install::run(&rest, &invoked_in),
        "bundle" => bundle::run(&rest),
        "test" => test::run(&rest),
        "bench" => bench::run(&rest),
        "gpu-check" => gpu_check::run(&rest),
        "export" => python::run_exporter("encore_export", &rest),
        "fixtures" => python::run_exporter("encore_export.fixtures", &rest),
        "" | "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}
