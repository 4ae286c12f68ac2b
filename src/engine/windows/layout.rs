//! Which windows a level samples: the port's window starts, minus the windows whose codes all
//! exist already.

use serde::{Deserialize, Serialize};

/// One window a level samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// First music code of the window.
    pub start: usize,
    /// Codes already present in the window (fed through prefill).
    pub prime: usize,
    /// Codes sampled in the window.
    pub new: usize,
}

/// The port's `get_starts`: `range(0, total - n_ctx + hop, hop)`, a start whose window reaches
/// the end moved back to `total - n_ctx`. Needs `total >= n_ctx`.
pub fn window_starts(total: usize, n_ctx: usize, hop: usize) -> Vec<usize> {
    if hop == 0 || total < n_ctx {
        return Vec::new();
    }
    (0..total - n_ctx + hop)
        .step_by(hop)
        .map(|start| {
            if start + n_ctx >= total {
                total - n_ctx
            } else {
                start
            }
        })
        .collect()
}

/// The windows that sample a level from `existing` codes up to `total`, skipping windows whose
/// codes all exist. Each window samples up to its end, as the port does. A level shorter than
/// one window is sampled in one window from 0 to `total` (the port would overshoot to `n_ctx`).
pub fn plan_windows(total: usize, n_ctx: usize, hop: usize, existing: usize) -> Vec<Window> {
    if total < n_ctx {
        return if existing < total {
            vec![Window {
                start: 0,
                prime: existing,
                new: total - existing,
            }]
        } else {
            Vec::new()
        };
    }
    let mut have = existing;
    let mut windows = Vec::new();
    for start in window_starts(total, n_ctx, hop) {
        let end = start + n_ctx;
        if have >= end || have < start {
            continue;
        }
        windows.push(Window {
            start,
            prime: have - start,
            new: end - have,
        });
        have = end;
    }
    windows
}

/// `int(fraction * n_ctx)`: a level's hop in codes.
pub fn hop_length(n_ctx: usize, fraction: f32) -> usize {
    (f64::from(fraction) * n_ctx as f64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_follow_the_port() {
        assert_eq!(window_starts(80, 64, 8), [0, 8, 16]);
        assert_eq!(window_starts(64, 64, 8), [0]);
        assert_eq!(window_starts(100, 64, 32), [0, 32, 36]);
        assert_eq!(window_starts(10, 64, 32), Vec::<usize>::new());
    }

    #[test]
    fn windows_skip_what_exists_and_prime_with_it() {
        let w = |start, prime, new| Window { start, prime, new };
        assert_eq!(
            plan_windows(80, 64, 8, 16),
            [w(0, 16, 48), w(8, 56, 8), w(16, 56, 8)]
        );
        assert_eq!(plan_windows(320, 64, 32, 64)[0], w(32, 32, 32));
        assert_eq!(plan_windows(320, 64, 32, 64).len(), 8);
        assert_eq!(plan_windows(80, 64, 8, 80), []);
        assert_eq!(plan_windows(40, 64, 8, 10), [w(0, 10, 30)]);
    }

    #[test]
    fn hop_is_truncated_like_int() {
        assert_eq!(hop_length(8192, 0.125), 1024);
        assert_eq!(hop_length(64, 0.5), 32);
        assert_eq!(hop_length(6144, 0.125), 768);
    }
}
