//! Seeded row splits and subsamples. Every function is a pure function of its arguments: the
//! same seed gives the same rows on every machine (ChaCha8 with an explicit seed).
//!
//! Fractions are clamped to `[0, 1]` (NaN counts as 0) and rounded to whole rows, so no
//! argument can make these functions fail. Returned index lists are sorted, which keeps the
//! rows of a subset in file order.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Rows `0..n` in a seeded random order.
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    idx
}

/// `k` distinct rows of `0..n` chosen at random (all rows if `k >= n`), sorted.
pub fn sample(n: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut idx =
        rand::seq::index::sample(&mut ChaCha8Rng::seed_from_u64(seed), n, k.min(n)).into_vec();
    idx.sort_unstable();
    idx
}

/// Number of rows a fraction of `n` amounts to.
fn rows_of(n: usize, fraction: f64) -> usize {
    let f = if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    };
    ((n as f64 * f).round() as usize).min(n)
}

/// Splits rows `0..n` into `(kept, held_out)`, holding out `round(n * fraction)` random rows.
pub fn holdout(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let order = shuffled(n, seed);
    let (held, kept) = order.split_at(rows_of(n, fraction));
    let (mut kept, mut held) = (kept.to_vec(), held.to_vec());
    kept.sort_unstable();
    held.sort_unstable();
    (kept, held)
}

/// Row indices of a three-way split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreeWay {
    /// Training rows.
    pub train: Vec<usize>,
    /// Validation rows.
    pub validation: Vec<usize>,
    /// Test rows.
    pub test: Vec<usize>,
}

/// Splits rows `0..n` into train / validation / test: `round(n * test)` test rows, then
/// `round(n * validation)` validation rows (fewer if the two fractions exceed 1), the rest for
/// training.
pub fn three_way(n: usize, validation: f64, test: f64, seed: u64) -> ThreeWay {
    let order = shuffled(n, seed);
    let n_test = rows_of(n, test);
    let n_val = rows_of(n, validation).min(n - n_test);
    let sorted = |s: &[usize]| {
        let mut v = s.to_vec();
        v.sort_unstable();
        v
    };
    ThreeWay {
        test: sorted(&order[..n_test]),
        validation: sorted(&order[n_test..n_test + n_val]),
        train: sorted(&order[n_test + n_val..]),
    }
}

/// Which rows of a dataset to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Subsample {
    /// Every row.
    #[default]
    All,
    /// The first `n` rows.
    First(usize),
    /// `n` rows chosen at random with `seed` (kept in file order).
    Random {
        /// Rows to keep.
        n: usize,
        /// Seed of the choice.
        seed: u64,
    },
}

impl Subsample {
    /// The kept row indices out of `n_rows`, sorted.
    pub fn indices(self, n_rows: usize) -> Vec<usize> {
        match self {
            Subsample::All => (0..n_rows).collect(),
            Subsample::First(n) => (0..n.min(n_rows)).collect(),
            Subsample::Random { n, seed } => sample(n_rows, n, seed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_clamped_and_rounded() {
        assert_eq!(rows_of(10, 0.25), 3);
        assert_eq!(rows_of(10, -1.0), 0);
        assert_eq!(rows_of(10, 7.0), 10);
        assert_eq!(rows_of(10, f64::NAN), 0);
        let s = three_way(10, 0.8, 0.5, 1);
        assert_eq!((s.train.len(), s.validation.len(), s.test.len()), (0, 5, 5));
    }

    #[test]
    fn subsample_variants() {
        assert_eq!(Subsample::All.indices(3), vec![0, 1, 2]);
        assert_eq!(Subsample::First(2).indices(3), vec![0, 1]);
        assert_eq!(Subsample::First(9).indices(3), vec![0, 1, 2]);
        let r = Subsample::Random { n: 4, seed: 3 }.indices(100);
        assert_eq!(r.len(), 4);
        assert!(r.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Subsample::Random { n: 40, seed: 3 }.indices(10).len(), 10);
    }
}
