//! What each window is conditioned on: the port's label vector (song length, offset, window
//! length, artist, genres, lyric window) and, for upsamplers, the upper level's codes under it.

use serde::{Deserialize, Serialize};

use super::LevelSampler;
use crate::engine::prior::ConditioningInputs;

/// What a song is conditioned on, for every level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SongLabels {
    /// Artist id of each take.
    pub artist: Vec<i64>,
    /// Genre ids of each take (at most `max_nb_genres`; missing slots become -1).
    pub genres: Vec<Vec<i64>>,
    /// Song length in samples (the top prior's `total_length`).
    pub total_length: i64,
    /// Samples before code 0 of every level (added to every window's offset).
    pub offset: i64,
    /// The whole song's lyric ids (lyric kinds); like the port, every take uses the same.
    pub lyrics: Vec<i64>,
}

impl SongLabels {
    pub fn batch(&self) -> usize {
        self.artist.len()
    }
}

/// The port's `get_relevant_lyric_tokens`: the `n_tokens` lyric ids around the window's middle,
/// left-padded with 0 when the song has fewer. The midpoint is computed in fp32 like the port
/// (torch's default dtype), so windows match it at every offset.
pub fn lyric_window(
    lyrics: &[i64],
    n_tokens: usize,
    total_length: i64,
    offset: i64,
    duration: i64,
) -> Vec<i64> {
    let n = lyrics.len();
    if n < n_tokens {
        let mut window = vec![0; n_tokens - n];
        window.extend_from_slice(lyrics);
        return window;
    }
    let centre = offset as f32 + duration as f32 / 2.0;
    let mid = (n as f32 * centre / total_length as f32) as i64;
    let half = (n_tokens / 2) as i64;
    let mid = mid.max(half).min(n as i64 - half) as usize;
    lyrics[mid - n_tokens / 2..mid + n_tokens / 2].to_vec()
}

impl LevelSampler {
    /// The port's label vector of window `index` for every take: `[total_length, offset,
    /// sample_length, artist, genres (-1 padded)..., lyric window...]`.
    pub fn window_labels(&self, index: usize) -> Vec<Vec<i64>> {
        let start = self.windows[index].start;
        let raw = self.spec.raw_to_tokens as i64;
        let offset = self.labels.offset + start as i64 * raw;
        let sample_length = self.spec.music_ctx as i64 * raw;
        let total = self.labels.total_length;
        let lyrics = self.spec.lyrics.as_ref().map(|l| {
            lyric_window(
                &self.labels.lyrics,
                l.n_tokens,
                total,
                offset,
                sample_length,
            )
        });
        (0..self.batch())
            .map(|row| {
                let mut v = vec![total, offset, sample_length, self.labels.artist[row]];
                let genres = &self.labels.genres[row];
                v.extend(
                    (0..self.spec.conditioning.max_nb_genres)
                        .map(|g| genres.get(g).copied().unwrap_or(-1)),
                );
                if let Some(lyrics) = &lyrics {
                    v.extend_from_slice(lyrics);
                }
                v
            })
            .collect()
    }

    /// The upper level's codes under window `index`, `[batch, music_ctx / cond_downsample]`,
    /// zero-padded (openai/jukebox's `get_z_conds`).
    pub fn window_upper(&self, index: usize) -> Option<Vec<Vec<i64>>> {
        let upper = self.upper.as_ref()?;
        let cd = self.spec.conditioning.cond_downsample.max(1);
        let start = self.windows[index].start;
        let (from, len) = (start / cd, self.spec.music_ctx / cd);
        Some(
            upper
                .iter()
                .map(|codes| {
                    (from..from + len)
                        .map(|i| codes.get(i).copied().unwrap_or(0))
                        .collect()
                })
                .collect(),
        )
    }

    /// The conditioning graph's inputs for window `index`.
    pub fn conditioning_inputs(&self, index: usize) -> ConditioningInputs {
        let labels = self.window_labels(index);
        let genres_n = self.spec.conditioning.max_nb_genres;
        let column = |c: usize| labels.iter().map(|l| l[c]).collect::<Vec<_>>();
        ConditioningInputs {
            total_length: column(0),
            offset: column(1),
            sample_length: column(2),
            artist: column(3),
            genres: labels
                .iter()
                .flat_map(|l| l[4..4 + genres_n].iter().copied())
                .collect(),
            lyrics: labels
                .iter()
                .flat_map(|l| l[4 + genres_n..].iter().copied())
                .collect(),
            upper_codes: self
                .window_upper(index)
                .map(|u| u.into_iter().flatten().collect())
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lyric_window_pads_and_centres() {
        assert_eq!(lyric_window(&[5, 6], 4, 100, 0, 10), [0, 0, 5, 6]);
        let lyrics: Vec<i64> = (0..100).collect();
        // The window's middle at 50% of the song: ids 48..52.
        assert_eq!(lyric_window(&lyrics, 4, 1000, 450, 100), [48, 49, 50, 51]);
        // Clamped at both ends.
        assert_eq!(lyric_window(&lyrics, 4, 1000, 0, 10), [0, 1, 2, 3]);
        assert_eq!(lyric_window(&lyrics, 4, 1000, 990, 10), [96, 97, 98, 99]);
    }
}
