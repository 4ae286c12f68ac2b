//! Takes on disk: where they go, how their files are named, written, renamed, deleted and read
//! back for playback.
//!
//! Every finished level of every take is its own WAV (`<name> L<level>.wav`, mono, at the host
//! sample rate, the continuation only), written atomically and never over an existing file.
//! Folder: `Settings::takes_dir` if set; otherwise `<music folder>/Encore/<instance id>`, where
//! `ENCORE_TAKES_DIR` replaces `<music folder>/Encore`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::audio::{self, AudioError, WavFormat};

use super::session::Take;
use super::stream_resampler::convert_frames;
use super::timeline::TakeBuffer;

/// Overrides the default takes folder (`~/Music/Encore`); each instance still gets its own
/// subfolder in it.
pub const TAKES_DIR_ENV: &str = "ENCORE_TAKES_DIR";
/// Where checkpoints of unfinished generations live, inside the takes folder.
const CHECKPOINTS_SUBFOLDER: &str = "checkpoints";
/// Inside the checkpoints folder: finished generations kept as their takes' sources.
const SOURCES_SUBFOLDER: &str = "sources";
pub const LONGEST_NAME: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    #[error("a take name cannot be empty")]
    EmptyName,
    #[error(
        "{name:?} cannot be a file name: leave out / \\ : * ? \" < > | and control characters, \
         and do not start with a dot (at most {LONGEST_NAME} characters)"
    )]
    BadName { name: String },
    #[error("another take is already called {name:?}")]
    NameTaken { name: String },
    #[error("{path} exists already: Encore never overwrites a file")]
    FileExists { path: PathBuf },
    #[error("no take {id}")]
    NoSuchTake { id: u64 },
    #[error("a crop of {name:?} must keep some of its audio: put its end after its start")]
    EmptyCrop { name: String },
    #[error("cannot {action} {path}: {reason}")]
    Io {
        action: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error(transparent)]
    Audio(#[from] AudioError),
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> TakeError {
    let path = path.to_path_buf();
    move |e| TakeError::Io {
        action,
        path,
        reason: e.to_string(),
    }
}

/// The user's music folder: `XDG_MUSIC_DIR` (environment or `user-dirs.dirs`), else `~/Music`.
fn music_dir() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from);
    if let Some(dir) = std::env::var_os("XDG_MUSIC_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    if let (Some(config), Some(home)) = (config, &home)
        && let Ok(text) = fs::read_to_string(config.join("user-dirs.dirs"))
        && let Some(dir) = xdg_music_from_user_dirs(&text, home)
    {
        return Some(dir);
    }
    home.map(|h| h.join("Music"))
}

/// The `XDG_MUSIC_DIR="$HOME/Music"` line of a `user-dirs.dirs` file.
fn xdg_music_from_user_dirs(text: &str, home: &Path) -> Option<PathBuf> {
    let value = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("XDG_MUSIC_DIR="))
        .next()?
        .trim()
        .trim_matches('"');
    let path = match value.strip_prefix("$HOME") {
        Some(rest) => home.join(rest.trim_start_matches('/')),
        None => PathBuf::from(value),
    };
    (path.is_absolute() && path != home).then_some(path)
}

/// The folder this instance's takes go to.
pub fn takes_folder(chosen: Option<&Path>, instance_id: &str) -> PathBuf {
    if let Some(dir) = chosen {
        return dir.to_path_buf();
    }
    let base = std::env::var_os(TAKES_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| music_dir().map(|m| m.join("Encore")))
        .unwrap_or_else(|| std::env::temp_dir().join("Encore"));
    base.join(instance_id)
}

pub fn checkpoints_folder(takes_folder: &Path) -> PathBuf {
    takes_folder.join(CHECKPOINTS_SUBFOLDER)
}

/// Where finished generations' checkpoints are kept as their takes' sources.
pub fn sources_folder(takes_folder: &Path) -> PathBuf {
    checkpoints_folder(takes_folder).join(SOURCES_SUBFOLDER)
}

/// `<checkpoints>/<stem>.json`, or `<stem>-2.json`, ... when that name is taken there or
/// among the sources (a checkpoint keeps its name when it becomes a source).
pub fn unused_checkpoint_path(takes_folder: &Path, stem: &str) -> PathBuf {
    let checkpoints = checkpoints_folder(takes_folder);
    let sources = sources_folder(takes_folder);
    let free = |name: &String| !checkpoints.join(name).exists() && !sources.join(name).exists();
    let name = std::iter::once(format!("{stem}.json"))
        .chain((2..).map(|n| format!("{stem}-{n}.json")))
        .find(free)
        .unwrap_or_else(|| format!("{stem}.json"));
    checkpoints.join(name)
}

pub fn create_folder(dir: &Path) -> Result<(), TakeError> {
    fs::create_dir_all(dir).map_err(io_error("create", dir))
}

/// The folder name of a new instance's takes, in words the producer knows: the track the host
/// says Encore is on (CLAP's track-info) and the day, or "Encore" and the time without one.
/// `taken` says whether a name is in use; `-2`, `-3`, ... are added until one is free.
pub fn instance_folder_name(
    track: Option<&str>,
    now: std::time::SystemTime,
    taken: impl Fn(&str) -> bool,
) -> String {
    let since_epoch = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (year, month, day) = civil_date(since_epoch / 86_400);
    let (hour, minute) = (since_epoch / 3600 % 24, since_epoch / 60 % 60);
    let date = format!("{year:04}-{month:02}-{day:02}");
    let track: String = track
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_control() || "/\\:*?\"<>|".contains(c) {
                '-'
            } else {
                c
            }
        })
        .collect();
    let track = track.trim().trim_start_matches('.').trim();
    let stem = if track.is_empty() {
        format!("Encore {date} {hour:02}.{minute:02}")
    } else {
        let short: String = track.chars().take(LONGEST_NAME / 2).collect();
        format!("{} {date}", short.trim_end())
    };
    std::iter::once(stem.clone())
        .chain((2..).map(|n| format!("{stem}-{n}")))
        .find(|name| !taken(name))
        .unwrap_or(stem)
}

/// The (proleptic Gregorian) date `days` after 1970-01-01: Howard Hinnant's `civil_from_days`.
fn civil_date(days: u64) -> (i64, u32, u32) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The default name of take `id`.
pub fn default_name(id: u64) -> String {
    format!("Take {id}")
}

/// Checks a name the user typed; returns it trimmed.
pub fn valid_name(name: &str) -> Result<String, TakeError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(TakeError::EmptyName);
    }
    let bad_char = |c: char| c.is_control() || "/\\:*?\"<>|".contains(c);
    if name.starts_with('.') || name.chars().count() > LONGEST_NAME || name.chars().any(bad_char) {
        return Err(TakeError::BadName { name: name.into() });
    }
    Ok(name.to_string())
}

fn level_file(dir: &Path, name: &str, level: usize) -> PathBuf {
    dir.join(format!("{name} L{level}.wav"))
}

/// Writes one finished level of a take; the name gets `-2`, `-3`, ... if its file exists.
pub fn write_level(
    dir: &Path,
    name: &str,
    level: usize,
    samples: &[f32],
    sample_rate: u32,
) -> Result<PathBuf, TakeError> {
    create_folder(dir)?;
    let path = audio::unused_wav_path(dir, &format!("{name} L{level}"));
    audio::write_wav_new(&path, samples, sample_rate, WavFormat::Float32)?;
    Ok(path)
}

/// Renames every file of `take` (`level_files`: all its levels' files) for `new_name`,
/// refusing to replace any file. On failure the files already renamed are put back.
pub fn rename_files(
    take: &mut Take,
    level_files: &mut [PathBuf],
    new_name: &str,
) -> Result<(), TakeError> {
    let mut renames = Vec::new();
    for old in &files_of(take, level_files) {
        let dir = old.parent().unwrap_or(Path::new("."));
        let level = level_of(old).unwrap_or(take.level);
        let new = level_file(dir, new_name, level);
        if new.exists() {
            return Err(TakeError::FileExists { path: new });
        }
        renames.push((old.clone(), new));
    }
    let mut done = Vec::new();
    for (old, new) in &renames {
        // A hard link fails rather than replace a file that appeared meanwhile.
        let moved = fs::hard_link(old, new)
            .and_then(|()| fs::remove_file(old))
            .map_err(io_error("rename", old));
        if let Err(error) = moved {
            for (old, new) in done {
                let _ = fs::hard_link(new, old).and_then(|()| fs::remove_file(new));
            }
            return Err(error);
        }
        done.push((old, new));
    }
    for file in level_files.iter_mut().chain([&mut take.file]) {
        if let Some((_, new)) = renames.iter().find(|(old, _)| old == file) {
            *file = new.clone();
        }
    }
    take.name = new_name.to_string();
    Ok(())
}

/// Every file of a take: each level written, the best one included.
fn files_of(take: &Take, level_files: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = level_files.to_vec();
    if !take.file.as_os_str().is_empty() && !files.contains(&take.file) {
        files.push(take.file.clone());
    }
    files
}

/// The level in a `<name> L<level>.wav` (or `-N`) file name.
fn level_of(path: &Path) -> Option<usize> {
    let stem = path.file_stem()?.to_str()?;
    let (_, tail) = stem.rsplit_once(" L")?;
    let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Deletes every file of `take`; files already gone are fine.
pub fn delete_files(take: &Take, level_files: &[PathBuf]) -> Result<(), TakeError> {
    for file in &files_of(take, level_files) {
        match fs::remove_file(file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_error("delete", file)(e));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A new take `id` holding `take`'s audio from `start_seconds` to `end_seconds` into it, written
/// beside it as a file of its own and placed where that audio played. The take's own files are
/// only read. Audio only: the new take has no codes to follow up from.
pub fn crop_take(
    take: &Take,
    id: u64,
    start_seconds: f64,
    end_seconds: f64,
) -> Result<Take, TakeError> {
    let decoded = audio::read_audio_file(&take.file)?;
    let mono = decoded.to_mono();
    let file_rate = f64::from(decoded.sample_rate);
    let frame = |seconds: f64| ((seconds.max(0.0) * file_rate).round() as usize).min(mono.len());
    let (first, last) = (frame(start_seconds), frame(end_seconds));
    if last <= first {
        return Err(TakeError::EmptyCrop {
            name: take.name.clone(),
        });
    }
    let name = valid_name(&format!(
        "{} · {start_seconds:.1}–{end_seconds:.1} s",
        take.name
    ))
    .unwrap_or_else(|_| default_name(id));
    let dir = take.file.parent().unwrap_or(Path::new("."));
    let file = write_level(
        dir,
        &name,
        take.level,
        &mono[first..last],
        decoded.sample_rate,
    )?;
    // Frames at the take's own rate (the file may be at another since a rate change).
    let at_take_rate = |frames: usize| {
        convert_frames(frames as i64, file_rate, f64::from(take.sample_rate)).max(0)
    };
    Ok(Take {
        id,
        name,
        level: take.level,
        file,
        timeline_start: take.timeline_start + at_take_rate(first),
        sample_rate: take.sample_rate,
        frames: at_take_rate(last - first) as u64,
        batch_row: take.batch_row,
        settings: take.settings.clone(),
        source: None,
        parent: Some(super::session::TakeParent {
            take: take.id,
            name: take.name.clone(),
            derivation: super::session::Derivation::Cropped {
                start_seconds,
                end_seconds,
            },
        }),
    })
}

/// A take's best level read back at `host_rate`: mono samples, resampled if the project's rate
/// changed since it was written.
pub fn read_take(take: &Take, host_rate: f32) -> Result<Vec<f32>, TakeError> {
    let decoded = audio::read_audio_file(&take.file)?;
    let mono = decoded.to_mono();
    let rate = host_rate.round() as u32;
    Ok(audio::resample_mono(&mono, decoded.sample_rate, rate)?)
}

/// The take's timeline start converted to the host's rate.
pub fn start_at_rate(take: &Take, host_rate: f32) -> i64 {
    convert_frames(
        take.timeline_start,
        f64::from(take.sample_rate),
        f64::from(host_rate),
    )
}

/// A playback buffer holding a written take, at `host_rate`.
pub fn load_buffer(take: &Take, host_rate: f32) -> Result<TakeBuffer, TakeError> {
    let samples = read_take(take, host_rate)?;
    Ok(TakeBuffer::filled(
        take.id,
        start_at_rate(take, host_rate),
        &samples,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Settings as GenerationSettings;

    /// A take with levels 2 and 0 written, and its list of level files.
    fn take(dir: &Path, name: &str) -> (Take, Vec<PathBuf>) {
        let mut take = Take {
            id: 3,
            name: name.into(),
            level: 0,
            file: PathBuf::new(),
            timeline_start: 4410,
            sample_rate: 44_100.0,
            frames: 4,
            batch_row: 0,
            settings: GenerationSettings::new(1.0, 7),
            source: None,
            parent: None,
        };
        let mut files = Vec::new();
        for level in [2, 0] {
            let file = write_level(dir, name, level, &[0.5, -0.5, 0.25, 0.0], 44_100).unwrap();
            files.push(file.clone());
            take.file = file;
        }
        (take, files)
    }

    #[test]
    fn a_crop_is_a_new_take_and_its_parents_files_are_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let samples: Vec<f32> = (0..44_100).map(|i| (i as f32 / 44_100.0) - 0.5).collect();
        let file = write_level(dir.path(), "Take 1", 2, &samples, 44_100).unwrap();
        let before = fs::read(&file).unwrap();
        let parent = Take {
            timeline_start: 44_100 * 12,
            frames: 44_100,
            file: file.clone(),
            name: "Take 1".into(),
            level: 2,
            ..take(dir.path(), "unused").0
        };
        let crop = crop_take(&parent, 9, 0.25, 0.75).unwrap();
        assert_eq!(
            fs::read(&file).unwrap(),
            before,
            "the parent's file changed"
        );
        assert_eq!(crop.name, "Take 1 · 0.2–0.8 s");
        assert_eq!(crop.file, dir.path().join("Take 1 · 0.2–0.8 s L2.wav"));
        assert_eq!(
            crop.timeline_start,
            44_100 * 12 + 11_025,
            "where that audio played"
        );
        assert_eq!(crop.frames, 22_050);
        let cropped = audio::read_audio_file(&crop.file).unwrap().to_mono();
        assert_eq!(cropped, samples[11_025..33_075]);
        assert!(crop.source.is_none());
        assert_eq!(crop.parent.as_ref().map(|p| p.take), Some(parent.id));
        assert!(matches!(
            crop_take(&parent, 10, 0.5, 0.5),
            Err(TakeError::EmptyCrop { .. })
        ));
    }

    #[test]
    fn an_instance_folder_is_named_after_its_track_or_the_date() {
        use std::time::{Duration, UNIX_EPOCH};
        // 2026-12-08 00:16 UTC.
        let now = UNIX_EPOCH + Duration::from_secs(1_796_688_960);
        let free = |_: &str| false;
        assert_eq!(
            instance_folder_name(Some("Lead Vox"), now, free),
            "Lead Vox 2026-12-08"
        );
        assert_eq!(
            instance_folder_name(Some(" Drums: bus/2 "), now, free),
            "Drums- bus-2 2026-12-08"
        );
        assert_eq!(
            instance_folder_name(None, now, free),
            "Encore 2026-12-08 00.16"
        );
        assert_eq!(
            instance_folder_name(Some(".."), now, free),
            "Encore 2026-12-08 00.16"
        );
        // A second Encore on a track of the same name that day.
        let taken = |name: &str| name == "Lead Vox 2026-12-08";
        assert_eq!(
            instance_folder_name(Some("Lead Vox"), now, taken),
            "Lead Vox 2026-12-08-2"
        );
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
    }

    #[test]
    fn levels_get_their_own_files_and_names_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let (take, files) = take(dir.path(), "Take 3");
        assert_eq!(files[0], dir.path().join("Take 3 L2.wav"));
        assert_eq!(take.file, dir.path().join("Take 3 L0.wav"));
        // The same name again (another instance in the same folder): a new file.
        let again = write_level(dir.path(), "Take 3", 0, &[0.1], 44_100).unwrap();
        assert_eq!(again, dir.path().join("Take 3 L0-2.wav"));
        assert_eq!(level_of(&again), Some(0));
    }

    #[test]
    fn renaming_moves_every_level_file_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let (mut take, mut files) = take(dir.path(), "Take 3");
        rename_files(&mut take, &mut files, "Chorus idea").unwrap();
        assert_eq!(take.name, "Chorus idea");
        assert_eq!(take.file, dir.path().join("Chorus idea L0.wav"));
        assert_eq!(files[0], dir.path().join("Chorus idea L2.wav"));
        assert!(files.iter().all(|f| f.is_file()));
        assert!(!dir.path().join("Take 3 L2.wav").exists());

        fs::write(dir.path().join("Taken L2.wav"), b"not ours").unwrap();
        let error = rename_files(&mut take, &mut files, "Taken").unwrap_err();
        assert!(matches!(error, TakeError::FileExists { .. }), "{error}");
        assert_eq!(take.name, "Chorus idea");
        assert!(take.file.is_file());
        assert_eq!(
            fs::read(dir.path().join("Taken L2.wav")).unwrap(),
            b"not ours"
        );
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(valid_name("  Verse 2 ").unwrap(), "Verse 2");
        assert!(matches!(valid_name(" "), Err(TakeError::EmptyName)));
        for bad in ["a/b", "..", ".hidden", "a\nb", "x:y", &"n".repeat(101)] {
            assert!(
                matches!(valid_name(bad), Err(TakeError::BadName { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn deleting_removes_the_files_and_a_missing_file_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let (take, files) = take(dir.path(), "Take 3");
        fs::remove_file(&files[0]).unwrap();
        delete_files(&take, &files).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_take_reads_back_at_the_host_rate_and_place() {
        let dir = tempfile::tempdir().unwrap();
        let (take, _) = take(dir.path(), "Take 3");
        let buffer = load_buffer(&take, 44_100.0).unwrap();
        assert_eq!(buffer.timeline_start, 4410);
        assert_eq!((buffer.region(), buffer.ready()), (4, 4));
        assert_eq!(buffer.sample(1), -0.5);
        assert_eq!(start_at_rate(&take, 48_000.0), 4800);
        assert_eq!(read_take(&take, 88_200.0).unwrap().len(), 8);
    }

    #[test]
    fn the_folder_is_the_chosen_one_or_one_per_instance() {
        let chosen = Path::new("/tmp/my takes");
        assert_eq!(takes_folder(Some(chosen), "abc"), chosen);
        let default = takes_folder(None, "abc");
        assert!(default.ends_with("abc"), "{}", default.display());
        let home = Path::new("/home/u");
        assert_eq!(
            xdg_music_from_user_dirs("# c\nXDG_MUSIC_DIR=\"$HOME/Musik\"\n", home),
            Some(PathBuf::from("/home/u/Musik"))
        );
        // xdg-user-dirs writes $HOME itself for a disabled folder.
        assert_eq!(
            xdg_music_from_user_dirs("XDG_MUSIC_DIR=\"$HOME/\"", home),
            None
        );
    }

    #[test]
    fn checkpoint_names_are_never_reused_nor_taken_from_a_source() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = checkpoints_folder(dir.path());
        let first = unused_checkpoint_path(dir.path(), "generation 3");
        assert_eq!(first, checkpoints.join("generation 3.json"));
        create_folder(&sources_folder(dir.path())).unwrap();
        std::fs::write(&first, "{}").unwrap();
        assert_eq!(
            unused_checkpoint_path(dir.path(), "generation 3"),
            checkpoints.join("generation 3-2.json")
        );
        // Kept as a source, its name stays taken.
        std::fs::rename(&first, sources_folder(dir.path()).join("generation 3.json")).unwrap();
        assert_eq!(
            unused_checkpoint_path(dir.path(), "generation 3"),
            checkpoints.join("generation 3-2.json")
        );
    }
}
