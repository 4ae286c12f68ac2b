//! `cargo xtask gpu-check`: the GPU check of issues 10 and 11, prepared here and run on the
//! device machine by the calls `pack` prints; `--cpu` runs the same sequence here.
//!
//! The device side is `tools/gpu_check/device.sh` around `tools/gpu_check/gpu_check.py`; the
//! device has no Rust toolchain, so the release binaries travel (compressed), and so does ONNX
//! Runtime's CUDA provider, in parts: one call carries at most 64 MiB, the repository's tracked
//! files included. Everything `pack` makes is under `target/gpu-check/` (ignored by git).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};

use crate::python::{self, run as run_command};

const USAGE: &str = "\
Usage: cargo xtask gpu-check pack
       cargo xtask gpu-check --cpu [--quick] [--full-size --model DIR [--level L]] [--threads N]
                             [-- DRIVER ARGS..]

  pack          build the release binaries, fetch and split ONNX Runtime's GPU build and the
                reference's wheels into target/gpu-check/call*/, and print the device calls
  --cpu         run the device sequence here on the tiny models (CUDA-only steps skipped)
  --quick       the CI form of --cpu: no tiny 5b_lyrics, one parity test, batches 1 and 3,
                one variant (the 8-bit graphs)
                (without it: tiny 1b_lyrics' two priors and 5b_lyrics' top, every test)
  --full-size   with --model DIR (a random-weight export): Encore's release step against the
                reference on that folder, batches 1 and 3, 30 steps after a 400-position prime
";

const ROOT: &str = "target/gpu-check";
const DRIVER: &str = "tools/gpu_check/gpu_check.py";
const TEST_BINARIES: [&str; 4] = ["prior_parity", "sampling_replay", "vqvae_parity", "device"];
const ORT_WHEEL: &str = "onnxruntime-gpu==1.31.1";
/// transformers' last Jukebox release and what it pins; the device has newer ones (no Jukebox).
const REFERENCE_WHEELS: [&str; 3] = [
    "transformers==4.40.2",
    "tokenizers==0.19.1",
    "huggingface-hub==0.23.5",
];
/// What one device call may carry (64 MiB), the tracked files included, with room to spare.
const CALL_LIMIT: u64 = 64 << 20;
const CALL_TARGET: u64 = 60 << 20;

pub fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("pack") if args.len() == 1 => pack(),
        Some("--cpu") => cpu(&args[1..]),
        _ => bail!("{USAGE}"),
    }
}

// ------------------------------------------------------------------------------------ --cpu

fn cpu(args: &[String]) -> Result<()> {
    let mut quick = false;
    let mut full_size = false;
    let mut model: Option<String> = None;
    let mut level = "2".to_string();
    let mut threads: Option<String> = None;
    let mut extra: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .with_context(|| format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--quick" => quick = true,
            "--full-size" => full_size = true,
            "--model" => model = Some(value()?),
            "--level" => level = value()?,
            "--threads" => threads = Some(value()?),
            "--" => {
                extra.extend(it.by_ref().cloned());
                break;
            }
            other => bail!("unknown argument `{other}`\n\n{USAGE}"),
        }
    }
    ensure!(
        full_size == model.is_some(),
        "--full-size and --model DIR go together\n\n{USAGE}"
    );
    // Speed figures come from a release step_bench; the tests (correctness only) and the CI
    // form reuse the debug build CI has.
    let bin = Path::new(ROOT).join(if full_size {
        "cpu-bin-release"
    } else {
        "cpu-bin"
    });
    build_binaries(full_size, false, &bin)?;
    let python = python::ensure_venv(python::EXPORT_VENV, python::EXPORT_REQUIREMENTS)?;
    let work = Path::new(ROOT).join(if full_size {
        "cpu-work-full"
    } else {
        "cpu-work"
    });
    if work.exists() {
        fs::remove_dir_all(&work)?;
    }
    let out = Path::new(ROOT).join(if full_size { "cpu-out-full" } else { "cpu-out" });
    let mut driver = Command::new(python);
    driver.args([DRIVER, "all", "--mode", "cpu"]);
    driver
        .arg("--work")
        .arg(&work)
        .arg("--bin")
        .arg(&bin)
        .arg("--out")
        .arg(&out);
    if let Some(model) = &model {
        driver.args(["--model", model, "--level", &level, "--batch", "1", "3"]);
        driver.args(["--steps", "30", "--prime", "400"]);
        // Minutes per side on 2 cores: building 1B random weights, a 400-position prime.
        driver.args(["--prepare-budget-s", "3600", "--run-budget-s", "3600"]);
        driver.args(["--reference-budget-s", "1800", "--encore-budget-s", "1800"]);
    } else if !quick {
        driver.arg("--with-5b");
    }
    if quick {
        driver.args(["--batch", "1", "3", "--steps", "5"]);
        driver.args(["--test-filter", "fp16_teacher_forced"]);
        // One variant: the 8-bit graphs, fused step included.
        driver.args(["--variants", "int8"]);
    }
    if let Some(threads) = &threads {
        driver.args(["--threads", threads]);
    }
    driver.args(&extra);
    run_command(&mut driver)?;
    println!("report: {}/gpu-check.md and gpu-check.json", out.display());
    Ok(())
}

/// `step_bench` and the parity/replay test binaries, copied under stable names into `into`.
fn build_binaries(release_bench: bool, release_tests: bool, into: &Path) -> Result<Vec<PathBuf>> {
    let profile = |release: bool| -> &[&str] { if release { &["--release"] } else { &[] } };
    run_command(
        Command::new("cargo")
            .args(["build", "--example", "step_bench", "--bin", "encore"])
            .args(profile(release_bench)),
    )?;
    let mut test = Command::new("cargo");
    test.args(["test", "--no-run", "--message-format=json"])
        .args(profile(release_tests));
    for name in TEST_BINARIES {
        test.args(["--test", name]);
    }
    let output = test
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running cargo test --no-run")?;
    ensure!(output.status.success(), "cargo test --no-run failed");
    fs::create_dir_all(into)?;
    let mut copied = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let name = message["target"]["name"].as_str().unwrap_or_default();
        if let Some(exe) = message["executable"].as_str()
            && TEST_BINARIES.contains(&name)
            && message["target"]["kind"][0] == "test"
        {
            copied.push(copy_executable(Path::new(exe), &into.join(name))?);
        }
    }
    ensure!(
        copied.len() == TEST_BINARIES.len(),
        "cargo named {} of the {} test binaries",
        copied.len(),
        TEST_BINARIES.len()
    );
    let dir = if release_bench { "release" } else { "debug" };
    let bench = Path::new("target").join(dir).join("examples/step_bench");
    copied.push(copy_executable(&bench, &into.join("step_bench"))?);
    // The CLI, for one whole continuation through the engine (VQ-VAE included) on the device.
    let cli = Path::new("target").join(dir).join("encore");
    copied.push(copy_executable(&cli, &into.join("encore"))?);
    Ok(copied)
}

fn copy_executable(from: &Path, to: &Path) -> Result<PathBuf> {
    fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    Ok(to.to_path_buf())
}

// ------------------------------------------------------------------------------------- pack

fn pack() -> Result<()> {
    let root = Path::new(ROOT);
    let staging = root.join("staging");
    fs::create_dir_all(&staging)?;

    // 1. The binaries (release, symbols stripped by the profile), one xz archive.
    let bin = staging.join("bin");
    if bin.exists() {
        fs::remove_dir_all(&bin)?;
    }
    build_binaries(true, true, &bin)?;
    let bin_archive = staging.join("bin.tar.xz");
    xz_tar(&bin, &bin_archive, "-9 -T2")?;

    // 2. ONNX Runtime's GPU build: its three libraries, one xz archive (kept between packs).
    let ort_archive = staging.join("ort.tar.xz");
    if !ort_archive.is_file() {
        let downloads = root.join("downloads");
        let wheel = pip_download(ORT_WHEEL, &downloads, "onnxruntime_gpu-")?;
        let libs = staging.join("ort");
        extract_ort_libraries(&wheel, &libs)?;
        println!("compressing ONNX Runtime's GPU libraries (xz -9; minutes on 2 cores)");
        let partial = staging.join("ort.tar.xz.partial");
        xz_tar(&libs, &partial, "-9 -T2")?;
        fs::rename(&partial, &ort_archive)?;
        fs::remove_dir_all(&libs)?;
    }

    // 3. The reference's wheels, for the device's Python 3.12.
    let wheels_dir = root.join("wheels");
    let mut wheels = Vec::new();
    for requirement in REFERENCE_WHEELS {
        let prefix = requirement.split("==").next().unwrap_or(requirement);
        let prefix = format!("{}-", prefix.replace('-', "_"));
        wheels.push(pip_download(requirement, &wheels_dir, &prefix)?);
    }

    // 4. Lay the calls out: wheels and part 1 first, middle parts, then the last part with
    //    the binaries and pack.json.
    for entry in fs::read_dir(root)? {
        let path = entry?.path();
        // The call folders only: calls.txt beside them is rewritten below.
        if path.is_dir()
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("call"))
        {
            fs::remove_dir_all(&path)?;
        }
    }
    let tree = working_tree_bytes()?;
    let room = CALL_TARGET
        .checked_sub(tree)
        .context("the working tree alone is over the call budget")?;
    let wheel_bytes: u64 = wheels.iter().map(|w| size(w)).sum();
    let ort = fs::read(&ort_archive)?;
    let first_room = room
        .checked_sub(wheel_bytes)
        .context("the wheels leave no room for a part")?;
    let last_room = room - size(&bin_archive) - 4096;
    // Call 1 and the middle calls are filled; the last takes what is left (maybe nothing).
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut rest = &ort[..];
    let mut capacity = first_room as usize;
    while rest.len() > last_room as usize {
        let take = capacity.min(rest.len());
        parts.push(&rest[..take]);
        rest = &rest[take..];
        capacity = room as usize;
    }
    parts.push(rest);
    let calls = parts.len().max(2);
    let mut part_entries = Vec::new();
    for (index, part) in parts.iter().enumerate().filter(|(_, p)| !p.is_empty()) {
        let call = root.join(format!("call{}", index + 1));
        fs::create_dir_all(&call)?;
        let name = format!("ort.tar.xz.part{:02}", index + 1);
        fs::write(call.join(&name), part)?;
        part_entries.push(serde_json::json!({
            "name": name, "bytes": part.len(), "sha256": hex(&Sha256::digest(part)),
        }));
    }
    let first = root.join("call1");
    fs::create_dir_all(&first)?;
    for wheel in &wheels {
        let name = wheel.file_name().context("wheel without a name")?;
        fs::copy(wheel, first.join(name))?;
    }
    let last = root.join(format!("call{calls}"));
    fs::create_dir_all(&last)?;
    fs::copy(&bin_archive, last.join("bin.tar.xz"))?;
    let commit = git(&["rev-parse", "HEAD"])?;
    let dirty = !git(&["status", "--porcelain", "--untracked-files=no"])?.is_empty();
    let pack_json = serde_json::json!({
        "commit": commit,
        "dirty": dirty,
        "ort_sha256": hex(&Sha256::digest(&ort)),
        "ort_parts": part_entries,
        "bin_sha256": hex(&Sha256::digest(fs::read(&bin_archive)?)),
        "wheels": wheels.iter().filter_map(|w| w.file_name()?.to_str().map(String::from)).collect::<Vec<_>>(),
    });
    fs::write(
        last.join("pack.json"),
        serde_json::to_string_pretty(&pack_json)?,
    )?;

    // 5. Every call under 64 MiB with the tree that travels with it; then the calls to make.
    let mut plan = String::new();
    for index in 1..=calls {
        let call = format!("{ROOT}/call{index}");
        let carried = dir_bytes(Path::new(&call))?;
        let total = tree + carried;
        ensure!(
            total < CALL_LIMIT,
            "call {index} would carry {} MiB (limit 64)",
            mib(total)
        );
        let (verb, timeout, estimate) = match index {
            1 => ("start", 180, "machine start 1-2 min + about 40 s"),
            i if i == calls => (
                "run",
                600,
                "4-8 min (waits for the prepare phase, then times Encore)",
            ),
            _ => ("stage", 90, "about 15-30 s"),
        };
        plan.push_str(&format!(
            "{index}. command: bash tools/gpu_check/device.sh {verb} {call}\n   carry: [\"{call}\"]\n   \
             timeout_s: {timeout}\n   payload: {} MiB (tree {} + carried {}); expect {estimate}\n",
            mib(total),
            mib(tree),
            mib(carried),
        ));
    }
    let printed = format!(
        "The GPU check, packed at {commit}{}. Make these device calls back to back (the machine \
         is given back 30 s after a call; /tmp/encore-gpu is lost then):\n\n{plan}\n\
         If the last call is cut short or fails, run it again at once (same command and carry): \
         finished steps are kept. Results: gpu-check.json, gpu-check.md, gpu-check.log, \
         prepare.log under the last call's files; copy gpu-check.json to docs/gpu-check.json \
         unedited. Then give the machine back (give_back).\n",
        if dirty {
            " (with uncommitted changes)"
        } else {
            ""
        }
    );
    fs::write(root.join("calls.txt"), &printed)?;
    print!("{printed}");
    Ok(())
}

fn extract_ort_libraries(wheel: &Path, into: &Path) -> Result<()> {
    fs::create_dir_all(into)?;
    let mut archive = zip::ZipArchive::new(fs::File::open(wheel)?)?;
    let wanted = [
        "libonnxruntime.so.1.31.1",
        "libonnxruntime_providers_shared.so",
        "libonnxruntime_providers_cuda.so",
    ];
    let mut found = 0;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index)?;
        let name = entry.name().to_string();
        let Some(file) = wanted.iter().find(|w| name.ends_with(&format!("capi/{w}"))) else {
            continue;
        };
        let mut out = fs::File::create(into.join(file))?;
        std::io::copy(&mut entry, &mut out)?;
        found += 1;
    }
    ensure!(
        found == wanted.len(),
        "{} lacks some of {wanted:?}",
        wheel.display()
    );
    Ok(())
}

/// `tar` of a folder's files, xz-compressed (the device unpacks it with Python's tarfile).
fn xz_tar(dir: &Path, archive: &Path, xz_options: &str) -> Result<()> {
    run_command(
        Command::new("tar")
            .env("XZ_OPT", xz_options)
            .arg("-cJf")
            .arg(
                fs::canonicalize(archive.parent().context("archive without folder")?)?
                    .join(archive.file_name().context("archive without a name")?),
            )
            .arg("-C")
            .arg(dir)
            .arg("."),
    )
}

/// One wheel for the device (CPython 3.12, manylinux x86-64), cached in `dir`.
fn pip_download(requirement: &str, dir: &Path, file_prefix: &str) -> Result<PathBuf> {
    let find = || -> Result<Option<PathBuf>> {
        if !dir.exists() {
            return Ok(None);
        }
        let version = requirement.split("==").nth(1).unwrap_or_default();
        Ok(fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.to_lowercase().starts_with(&file_prefix.to_lowercase())
                        && n.contains(&format!("-{version}-"))
                        && n.ends_with(".whl")
                })
            }))
    };
    if let Some(found) = find()? {
        return Ok(found);
    }
    fs::create_dir_all(dir)?;
    let mut pip = Command::new(python::system_python());
    pip.args([
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
    ])
    .args(["--python-version", "3.12", "--implementation", "cp"]);
    for platform in [
        "manylinux_2_28_x86_64",
        "manylinux_2_27_x86_64",
        "manylinux_2_17_x86_64",
        "manylinux2014_x86_64",
    ] {
        pip.args(["--platform", platform]);
    }
    run_command(pip.arg("--dest").arg(dir).arg(requirement))?;
    find()?.with_context(|| format!("pip fetched no {file_prefix}*.whl for {requirement}"))
}

/// Bytes of what every call sends besides its carry: tracked files and untracked ones git
/// does not ignore.
fn working_tree_bytes() -> Result<u64> {
    let mut total = 0;
    for args in [
        &["ls-files", "-z"][..],
        &["ls-files", "-z", "--others", "--exclude-standard"][..],
    ] {
        let out = Command::new("git").args(args).output()?;
        ensure!(out.status.success(), "git ls-files failed");
        for name in out.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
            let path = Path::new(std::str::from_utf8(name)?);
            total += fs::symlink_metadata(path).map(|m| m.len()).unwrap_or(0);
        }
    }
    Ok(total)
}

fn dir_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        total += if entry.file_type()?.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            entry.metadata()?.len()
        };
    }
    Ok(total)
}

fn size(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / f64::from(1 << 20))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn git(args: &[&str]) -> Result<String> {
    let out = Command::new("git").args(args).output()?;
    ensure!(out.status.success(), "git {args:?} failed");
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}
