//! Reading WAV, FLAC, MP3 and Ogg Vorbis files (symphonia) into planar f32.

use std::fs::File;
use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::DecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::AudioError;

/// A whole file, one `Vec` per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAudio {
    pub sample_rate: u32,
    pub channels: Vec<Vec<f32>>,
}

impl DecodedAudio {
    /// The average of all channels.
    pub fn to_mono(&self) -> Vec<f32> {
        let count = self.channels.len().max(1) as f32;
        let frames = self.channels.first().map_or(0, Vec::len);
        (0..frames)
            .map(|i| self.channels.iter().map(|c| c[i]).sum::<f32>() / count)
            .collect()
    }

    /// Keeps only the last `seconds` of every channel (all of it when shorter); returns how
    /// many seconds were dropped from the start.
    pub fn keep_last(&mut self, seconds: f64) -> f64 {
        let frames = self.channels.first().map_or(0, Vec::len);
        let keep = (seconds.max(0.0) * f64::from(self.sample_rate)).round() as usize;
        let skip = frames.saturating_sub(keep);
        for channel in &mut self.channels {
            channel.drain(..skip.min(channel.len()));
        }
        skip as f64 / f64::from(self.sample_rate.max(1))
    }
}

pub fn read_audio_file(path: &Path) -> Result<DecodedAudio, AudioError> {
    let failed = |reason: String| AudioError::Read {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(|e| failed(e.to_string()))?;
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(extension) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(extension);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            stream,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| {
            failed(format!(
                "not a supported audio file (WAV, FLAC, MP3, OGG): {e}"
            ))
        })?;
    let mut format = probed.format;
    let track = format
        .default_track()
        .ok_or_else(|| failed("the file has no audio track".into()))?;
    let track_id = track.id;
    let sample_rate = track
        .codec_params
        .sample_rate
        .ok_or_else(|| failed("the file does not say its sample rate".into()))?;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| failed(format!("unsupported codec: {e}")))?;

    let mut channels: Vec<Vec<f32>> = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(packet) => packet,
            // The normal end of a file.
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break;
            }
            Err(e) => return Err(failed(e.to_string())),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(decoded) => decoded,
            // A damaged packet: skip it, as players do.
            Err(SymphoniaError::DecodeError(_)) => continue,
            Err(e) => return Err(failed(e.to_string())),
        };
        let spec = *decoded.spec();
        let count = spec.channels.count();
        let mut buffer = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
        buffer.copy_interleaved_ref(decoded);
        if channels.is_empty() {
            channels = vec![Vec::new(); count];
        }
        for frame in buffer.samples().chunks_exact(count) {
            for (channel, &sample) in channels.iter_mut().zip(frame) {
                channel.push(sample);
            }
        }
    }
    if channels.is_empty() {
        channels.push(Vec::new());
    }
    Ok(DecodedAudio {
        sample_rate,
        channels,
    })
}
