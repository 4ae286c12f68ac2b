//! Writing takes: atomically (a reader never sees half a file) and never over an existing file.

use std::fs;
use std::path::{Path, PathBuf};

use super::AudioError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WavFormat {
    Float32,
    Int24,
}

/// Writes mono `samples` to `path`, which must not exist yet. The file is written beside its
/// final name and hard-linked into place, which fails rather than replacing a file that
/// appeared in the meantime.
pub fn write_wav_new(
    path: &Path,
    samples: &[f32],
    sample_rate: u32,
    format: WavFormat,
) -> Result<(), AudioError> {
    let failed = |reason: String| AudioError::Write {
        path: path.to_path_buf(),
        reason,
    };
    if path.exists() {
        return Err(failed(
            "the file exists already; Encore never overwrites a take".into(),
        ));
    }
    let partial = partial_path(path);
    write_wav(&partial, samples, sample_rate, format).map_err(|e| {
        let _ = fs::remove_file(&partial);
        failed(e)
    })?;
    let linked = fs::hard_link(&partial, path);
    let _ = fs::remove_file(&partial);
    linked.map_err(|e| failed(e.to_string()))
}

/// `dir/stem.wav`, or `dir/stem-2.wav`, `-3`, ... : the first name not taken.
pub fn unused_wav_path(dir: &Path, stem: &str) -> PathBuf {
    let first = dir.join(format!("{stem}.wav"));
    if !first.exists() {
        return first;
    }
    (2..)
        .map(|n| dir.join(format!("{stem}-{n}.wav")))
        .find(|p| !p.exists())
        .expect("an unbounded range always yields a free name")
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.partial", std::process::id()));
    path.with_file_name(name)
}

fn write_wav(
    path: &Path,
    samples: &[f32],
    sample_rate: u32,
    format: WavFormat,
) -> Result<(), String> {
    let (bits_per_sample, sample_format) = match format {
        WavFormat::Float32 => return write_float_wav(path, samples, sample_rate),
        WavFormat::Int24 => (24, hound::SampleFormat::Int),
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample,
        sample_format,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(|e| e.to_string())?;
    for &sample in samples {
        match format {
            WavFormat::Float32 => writer.write_sample(sample),
            WavFormat::Int24 => {
                let scaled = (sample.clamp(-1.0, 1.0) * 8_388_607.0).round() as i32;
                writer.write_sample(scaled)
            }
        }
        .map_err(|e| e.to_string())?;
    }
    writer.finalize().map_err(|e| e.to_string())
}

/// Mono 32-bit float as WAVE_FORMAT_IEEE_FLOAT with the full WAVEFORMATEX (`cbSize` 0) and
/// a `fact` chunk, as the WAVE spec asks of a non-PCM format and as SoX writes it. hound writes
/// float as WAVE_FORMAT_EXTENSIBLE, which is valid too, but SoX 14.4 (Debian's and Ubuntu's)
/// then warns "wave header missing extended part of fmt chunk" on every file.
fn write_float_wav(path: &Path, samples: &[f32], sample_rate: u32) -> Result<(), String> {
    use std::io::Write;
    const FORMAT_IEEE_FLOAT: u16 = 3;
    const FMT_BYTES: u32 = 18;
    let frames = u32::try_from(samples.len()).map_err(|_| "the take is too long for a WAV")?;
    let data_bytes = frames
        .checked_mul(4)
        .filter(|bytes| *bytes <= u32::MAX - 64)
        .ok_or("the take is too long for a WAV")?;
    // "WAVE", then the fmt, fact and data chunks, each with its 8-byte chunk header.
    let riff_bytes = 4 + (8 + FMT_BYTES) + (8 + 4) + (8 + data_bytes);
    let mut header = Vec::with_capacity(58);
    header.extend_from_slice(b"RIFF");
    header.extend_from_slice(&riff_bytes.to_le_bytes());
    header.extend_from_slice(b"WAVEfmt ");
    header.extend_from_slice(&FMT_BYTES.to_le_bytes());
    header.extend_from_slice(&FORMAT_IEEE_FLOAT.to_le_bytes());
    header.extend_from_slice(&1u16.to_le_bytes()); // channels
    header.extend_from_slice(&sample_rate.to_le_bytes());
    header.extend_from_slice(&(sample_rate * 4).to_le_bytes()); // bytes per second
    header.extend_from_slice(&4u16.to_le_bytes()); // block align
    header.extend_from_slice(&32u16.to_le_bytes()); // bits per sample
    header.extend_from_slice(&0u16.to_le_bytes()); // cbSize: no extension
    header.extend_from_slice(b"fact");
    header.extend_from_slice(&4u32.to_le_bytes());
    header.extend_from_slice(&frames.to_le_bytes());
    header.extend_from_slice(b"data");
    header.extend_from_slice(&data_bytes.to_le_bytes());
    let file = fs::File::create(path).map_err(|e| e.to_string())?;
    let mut out = std::io::BufWriter::new(file);
    out.write_all(&header).map_err(|e| e.to_string())?;
    for sample in samples {
        out.write_all(&sample.to_le_bytes())
            .map_err(|e| e.to_string())?;
    }
    let file = out.into_inner().map_err(|e| e.to_string())?;
    file.sync_all().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::read_audio_file;

    #[test]
    fn takes_round_trip_and_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let samples = [0.0, 0.5, -0.25, 1.0];
        for format in [WavFormat::Float32, WavFormat::Int24] {
            let path = dir.path().join(format!("{format:?}.wav"));
            write_wav_new(&path, &samples, 44_100, format).unwrap();
            let read = read_audio_file(&path).unwrap();
            assert_eq!(read.sample_rate, 44_100);
            for (a, b) in read.channels[0].iter().zip(samples) {
                assert!((a - b).abs() < 1e-6, "{format:?}: {a} vs {b}");
            }
            let error = write_wav_new(&path, &[0.1], 44_100, format).unwrap_err();
            assert!(error.to_string().contains("never overwrites"), "{error}");
            assert_eq!(read_audio_file(&path).unwrap().channels[0].len(), 4);
        }
        // The float header: IEEE float with the whole WAVEFORMATEX and a fact chunk.
        let float = fs::read(dir.path().join("Float32.wav")).unwrap();
        assert_eq!(&float[12..16], b"fmt ");
        assert_eq!(u32::from_le_bytes(float[16..20].try_into().unwrap()), 18);
        assert_eq!(u16::from_le_bytes(float[20..22].try_into().unwrap()), 3);
        assert_eq!(&float[38..42], b"fact");
        assert_eq!(
            hound::WavReader::open(dir.path().join("Float32.wav"))
                .unwrap()
                .len(),
            4
        );
        // No partial files are left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 2);
    }
}
