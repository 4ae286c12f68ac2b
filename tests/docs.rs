//! The user-facing docs (README.md, docs/*.md) stand on their own: they point to nothing
//! outside the repository (a maintainer's notes, an issue tracker's numbers).

use std::path::Path;

fn docs() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path.display().to_string(), text)
        })
        .collect()
}

#[test]
fn docs_point_to_nothing_outside_the_repository() {
    for (path, text) in docs() {
        for (number, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            let outside = ["/work/", "shared/notes"]
                .iter()
                .find(|needle| lower.contains(*needle));
            assert!(outside.is_none(), "{path}:{}: {line}", number + 1);
            let issue_number = lower.match_indices("issue").any(|(at, _)| {
                let rest = lower[at + 5..].trim_start_matches(['s', ' ']);
                rest.starts_with(|c: char| c.is_ascii_digit())
            });
            assert!(!issue_number, "{path}:{}: {line}", number + 1);
        }
    }
}
