//! Files whose sha256 has been checked, remembered so that a load hashes each file once: a
//! corrupt download of the right size is caught at the first load, and later loads of the
//! same bytes read no file. A file is known by its absolute path, size and modification time
//! (and the hash it was checked against); a changed file is hashed again.
//!
//! The record is one small JSON file, by default `$ENCORE_CACHE_DIR/verified-files.json` or
//! the user's cache folder (`~/.cache/encore` on Linux), replaced atomically. If it cannot be
//! read or written, files are simply hashed again next time.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

/// The cache file's name in its folder.
pub const VERIFIED_FILE: &str = "verified-files.json";
/// Environment variable that moves the cache folder (tests, portable installs).
pub const CACHE_DIR_ENV: &str = "ENCORE_CACHE_DIR";
const RECORD_VERSION: u32 = 1;

/// Where checked files are remembered.
#[derive(Debug, Clone)]
pub struct HashCache {
    path: Option<PathBuf>,
}

/// What a file looked like when its hash was checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub bytes: u64,
    pub modified_s: u64,
    pub modified_ns: u32,
    pub sha256: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    version: u32,
    files: BTreeMap<String, FileStamp>,
}

impl HashCache {
    /// The user's cache: `$ENCORE_CACHE_DIR`, else the platform cache folder's `encore/`.
    pub fn user() -> Self {
        let dir = std::env::var_os(CACHE_DIR_ENV)
            .map(PathBuf::from)
            .or_else(|| dirs::cache_dir().map(|d| d.join("encore")));
        Self {
            path: dir.map(|d| d.join(VERIFIED_FILE)),
        }
    }

    /// A cache kept in the file `path`.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self {
            path: Some(path.into()),
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Everything remembered, keyed by absolute file path (empty when there is no record).
    pub fn entries(&self) -> BTreeMap<String, FileStamp> {
        self.load().files
    }

    fn load(&self) -> Record {
        let Some(path) = &self.path else {
            return Record::default();
        };
        fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).ok())
            .filter(|record| record.version == RECORD_VERSION)
            .unwrap_or_default()
    }

    /// Whether `file` was checked when it looked like `stamp` (size, time and expected hash),
    /// by the record `entries` read.
    pub(crate) fn remembered(
        entries: &BTreeMap<String, FileStamp>,
        file: &Path,
        stamp: &FileStamp,
    ) -> bool {
        entries.get(&key(file)).is_some_and(|s| s == stamp)
    }

    /// Adds `checked` (path, stamp) pairs to the record, replacing the file atomically.
    pub(crate) fn remember(&self, checked: &[(PathBuf, FileStamp)]) {
        let Some(path) = &self.path else { return };
        if checked.is_empty() {
            return;
        }
        let mut record = self.load();
        record.version = RECORD_VERSION;
        // Forget files that are gone (a deleted model, a test's scratch copy).
        record.files.retain(|file, _| Path::new(file).exists());
        for (file, stamp) in checked {
            record.files.insert(key(file), stamp.clone());
        }
        if let Err(error) = write_atomically(path, &record) {
            tracing::warn!(
                "could not remember checked model files in {}: {error}",
                path.display()
            );
        }
    }
}

/// A file's stamp as it is now, with the hash it should have.
pub(crate) fn stamp(meta: &fs::Metadata, sha256: &str) -> FileStamp {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .unwrap_or_default();
    FileStamp {
        bytes: meta.len(),
        modified_s: modified.as_secs(),
        modified_ns: modified.subsec_nanos(),
        sha256: sha256.to_ascii_lowercase(),
    }
}

fn key(file: &Path) -> String {
    fs::canonicalize(file)
        .unwrap_or_else(|_| file.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

fn write_atomically(path: &Path, record: &Record) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(&serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
