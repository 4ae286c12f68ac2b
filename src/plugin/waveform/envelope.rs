//! A waveform's envelope: the minimum and maximum of every run of samples, at several
//! resolutions, so that any zoom is drawn from a few bins per pixel column.
//!
//! Level `k` holds one [`MinMax`] per `FINEST_BIN << k` samples. Appending costs a comparison
//! per sample plus [`RESOLUTIONS`] merges per finest bin; [`Envelope::columns`] reads at most
//! about two bins per column whatever the length, so drawing stays cheap at 60 frames a second.

/// Samples per bin at the finest resolution.
pub const FINEST_BIN: usize = 64;
/// Resolutions kept: bins of 64 samples up to 64 << 11 (about 3 s at 44.1 kHz).
pub const RESOLUTIONS: usize = 12;

/// The lowest and highest sample of a run; `EMPTY` where there is no audio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinMax {
    pub min: f32,
    pub max: f32,
}

impl MinMax {
    pub const EMPTY: Self = Self {
        min: f32::INFINITY,
        max: f32::NEG_INFINITY,
    };

    pub fn is_empty(&self) -> bool {
        self.min > self.max
    }

    fn merge(&mut self, other: Self) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    fn of(samples: &[f32]) -> Self {
        let mut bin = Self::EMPTY;
        for &s in samples {
            // NaN never reaches the picture.
            if s.is_finite() {
                bin.min = bin.min.min(s);
                bin.max = bin.max.max(s);
            }
        }
        bin
    }
}

#[derive(Debug, Clone)]
pub struct Envelope {
    pub sample_rate: f32,
    /// Frames covered, counted from the first frame ever pushed (trimmed ones included).
    frames: u64,
    /// Frames dropped from the front by [`Envelope::trim_front`].
    trimmed: u64,
    /// `levels[k]`: the bins of `FINEST_BIN << k` samples, from frame `trimmed` on; the last
    /// bin of each level may still be filling.
    levels: Vec<Vec<MinMax>>,
    /// Bumped on every change, so a drawing cache knows when to recompute.
    revision: u64,
}

impl Envelope {
    pub fn new(sample_rate: f32) -> Self {
        Self {
            sample_rate,
            frames: 0,
            trimmed: 0,
            levels: vec![Vec::new(); RESOLUTIONS],
            revision: 0,
        }
    }

    pub fn from_samples(samples: &[f32], sample_rate: f32) -> Self {
        let mut envelope = Self::new(sample_rate);
        envelope.push(samples);
        envelope
    }

    /// End of the audio, in frames from the first frame ever pushed.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// First frame still held.
    pub fn first_frame(&self) -> u64 {
        self.trimmed
    }

    pub fn seconds(&self) -> f64 {
        self.frames as f64 / f64::from(self.sample_rate.max(1.0))
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Appends samples after the last one.
    pub fn push(&mut self, samples: &[f32]) {
        let mut rest = samples;
        while !rest.is_empty() {
            let offset = (self.frames - self.trimmed) as usize;
            let room = FINEST_BIN - offset % FINEST_BIN;
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.add_to_bins(offset / FINEST_BIN, MinMax::of(now));
            self.frames += now.len() as u64;
            rest = later;
        }
        self.revision += 1;
    }

    /// Writes `samples` starting at frame `at`: silence fills a gap before it, and what
    /// overlaps audio already held is skipped (a restarted stream repeats itself).
    pub fn write_at(&mut self, at: u64, samples: &[f32]) {
        if at > self.frames {
            let gap = (at - self.frames) as usize;
            let silence = [0.0_f32; FINEST_BIN];
            let mut left = gap;
            while left > 0 {
                let n = left.min(FINEST_BIN);
                self.push(&silence[..n]);
                left -= n;
            }
        }
        let skip = (self.frames.saturating_sub(at) as usize).min(samples.len());
        self.push(&samples[skip..]);
    }

    fn add_to_bins(&mut self, finest_index: usize, bin: MinMax) {
        for (k, level) in self.levels.iter_mut().enumerate() {
            let index = finest_index >> k;
            match level.get_mut(index) {
                Some(existing) => existing.merge(bin),
                None => level.push(bin),
            }
        }
    }

    /// Drops audio before frame `frame` in whole coarsest bins (every resolution stays
    /// aligned); at most one coarsest bin more than asked is kept.
    pub fn trim_front(&mut self, frame: u64) {
        let span = (FINEST_BIN << (RESOLUTIONS - 1)) as u64;
        let whole = frame.saturating_sub(self.trimmed) / span;
        if whole == 0 {
            return;
        }
        for (k, level) in self.levels.iter_mut().enumerate() {
            let bins = (whole as usize) << (RESOLUTIONS - 1 - k);
            level.drain(..bins.min(level.len()));
        }
        self.trimmed += whole * span;
        self.revision += 1;
    }

    /// The envelope of `columns` equal slices of frames `from..to` (fractional frames, counted
    /// like [`Envelope::frames`]), into `out`. Slices without audio are [`MinMax::EMPTY`].
    pub fn columns(&self, from: f64, to: f64, columns: usize, out: &mut Vec<MinMax>) {
        out.clear();
        if columns == 0 || to.partial_cmp(&from) != Some(std::cmp::Ordering::Greater) {
            return;
        }
        let per_column = (to - from) / columns as f64;
        // The coarsest resolution whose bins are no wider than a column.
        let mut k = 0;
        while k + 1 < RESOLUTIONS && ((FINEST_BIN << (k + 1)) as f64) <= per_column {
            k += 1;
        }
        let span = (FINEST_BIN << k) as f64;
        let level = &self.levels[k];
        let base = self.trimmed as f64;
        for c in 0..columns {
            let start = from + c as f64 * per_column;
            let end = (start + per_column).min(self.frames as f64);
            let mut column = MinMax::EMPTY;
            if end > start.max(base) {
                let first = ((start.max(base) - base) / span).floor() as usize;
                let last = (((end - base) / span).ceil() as usize).max(first + 1);
                for bin in level.iter().take(last).skip(first) {
                    column.merge(*bin);
                }
            }
            out.push(column);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ramp from -1 to 1 over `n` samples.
    fn ramp(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| -1.0 + 2.0 * i as f32 / (n - 1) as f32)
            .collect()
    }

    /// Each column straight from the samples: the extremes of the whole bins of `span`
    /// samples that the column's frames touch.
    fn direct(samples: &[f32], columns: usize, span: usize) -> Vec<MinMax> {
        let per = samples.len() as f64 / columns as f64;
        (0..columns)
            .map(|c| {
                let start = c as f64 * per;
                let first = (start / span as f64).floor() as usize * span;
                let last = ((start + per) / span as f64).ceil() as usize * span;
                MinMax::of(&samples[first..last.min(samples.len())])
            })
            .collect()
    }

    #[test]
    fn columns_hold_the_extremes_of_their_samples_at_every_zoom() {
        let samples: Vec<f32> = (0..200_000)
            .map(|i| (i as f32 * 0.013).sin() * (i as f32 * 0.00007).cos())
            .collect();
        let mut envelope = Envelope::new(44_100.0);
        // Pushed in uneven chunks, as a stream arrives.
        for chunk in samples.chunks(1_777) {
            envelope.push(chunk);
        }
        assert_eq!(envelope.frames(), 200_000);
        let mut out = Vec::new();
        // Columns of 66, 285, 4000 and 66 667 samples: bins of 64, 256, 2048 and 65 536.
        for (columns, span) in [(3_000, 64), (700, 256), (50, 2048), (3, 65_536)] {
            envelope.columns(0.0, 200_000.0, columns, &mut out);
            assert_eq!(out, direct(&samples, columns, span), "{columns} columns");
        }
    }

    #[test]
    fn a_ramp_reads_back_per_column() {
        let envelope = Envelope::from_samples(&ramp(64 * 100), 1000.0);
        let mut out = Vec::new();
        envelope.columns(0.0, 6400.0, 100, &mut out);
        assert_eq!(out.len(), 100);
        assert!((out[0].min + 1.0).abs() < 1e-6);
        assert!((out[99].max - 1.0).abs() < 1e-6);
        assert!(out.windows(2).all(|w| w[0].max <= w[1].min + 1e-6));
        // Past the end: no audio.
        envelope.columns(6400.0, 12_800.0, 10, &mut out);
        assert!(out.iter().all(MinMax::is_empty));
    }

    #[test]
    fn a_stream_with_a_gap_and_a_repeat_lines_up() {
        let mut envelope = Envelope::new(1000.0);
        envelope.write_at(128, &[0.5; 64]);
        envelope.write_at(160, &[0.9; 64]); // overlaps 32 frames: only the new ones count
        assert_eq!(envelope.frames(), 224);
        let mut out = Vec::new();
        envelope.columns(0.0, 256.0, 4, &mut out);
        assert_eq!(out[0], MinMax { min: 0.0, max: 0.0 });
        assert_eq!(out[2], MinMax { min: 0.5, max: 0.5 });
        assert_eq!(out[3], MinMax { min: 0.9, max: 0.9 });
    }

    #[test]
    fn trimming_keeps_positions() {
        let span = (FINEST_BIN << (RESOLUTIONS - 1)) as u64;
        let mut samples = vec![0.1_f32; span as usize];
        samples.extend(vec![0.7_f32; span as usize]);
        let mut envelope = Envelope::from_samples(&samples, 1000.0);
        envelope.trim_front(span + 10);
        assert_eq!(envelope.first_frame(), span);
        let mut out = Vec::new();
        envelope.columns(0.0, 2.0 * span as f64, 2, &mut out);
        assert!(out[0].is_empty());
        assert_eq!(out[1], MinMax { min: 0.7, max: 0.7 });
    }
}
