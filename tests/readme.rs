//! The README's main job and the follow-ups it shows, run as written (the debug `encore` for
//! `cargo run --release --` and `encore`, a temporary folder for `target/takes`), in order.

mod common;

use common::cli::{encore_ok, root};

/// The README's commands that use the takes folder of its main job, in order, as arguments.
fn readme_commands() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    readme
        .lines()
        .filter(|line| !line.trim_start().starts_with('#') && line.contains("target/takes"))
        .map(|line| {
            let command = line
                .rsplit_once("cargo run --release -- ")
                .map(|(_, rest)| rest)
                .or_else(|| line.trim().strip_prefix("encore "))
                .unwrap_or_else(|| panic!("not an encore command: {line}"));
            command.split_whitespace().map(String::from).collect()
        })
        .collect()
}

#[test]
fn the_readmes_main_job_and_its_follow_ups_succeed_in_order() {
    let commands = readme_commands();
    assert!(commands.len() >= 4, "{commands:?}");
    assert_eq!(commands[0][0], "continue", "{commands:?}");
    let takes = tempfile::tempdir().unwrap();
    for command in commands {
        let args: Vec<String> = command
            .iter()
            .map(|arg| arg.replace("target/takes", takes.path().to_str().unwrap()))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        encore_ok(&args);
    }
}
