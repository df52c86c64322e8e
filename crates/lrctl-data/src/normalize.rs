//! Per-feature normalisation, fitted on the training rows and applied unchanged to validation
//! and test rows (fitting on held-out rows would leak them into training).

use serde::{Deserialize, Serialize};

use crate::{Features, Tabular};

/// How feature columns are rescaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Normalization {
    /// Leave the features as they are.
    #[default]
    None,
    /// Divide each column by its L2 norm over the training rows (the paper's LIBSVM setup);
    /// all-zero columns stay zero.
    UnitL2,
    /// Subtract each column's training mean and divide by its training standard deviation
    /// (population); constant columns are only centred.
    Standardize,
}

impl Normalization {
    /// The configuration spelling (`none`, `unit-l2`, `standardize`).
    pub fn as_str(self) -> &'static str {
        match self {
            Normalization::None => "none",
            Normalization::UnitL2 => "unit-l2",
            Normalization::Standardize => "standardize",
        }
    }

    /// Computes the per-column transform from `train`.
    pub fn fit(self, train: &Tabular) -> Normalizer {
        let f = train.n_features;
        // Byte rows are decoded to the same `f32` values, so the sums are the same.
        let rows = |each: &mut dyn FnMut(&[f32])| train.for_each_row(each);
        match self {
            Normalization::None => Normalizer {
                shift: Vec::new(),
                divisor: Vec::new(),
            },
            Normalization::UnitL2 => {
                let mut sq = vec![0f64; f];
                rows(&mut |row| {
                    for (s, &v) in sq.iter_mut().zip(row) {
                        *s += f64::from(v) * f64::from(v);
                    }
                });
                Normalizer {
                    shift: vec![0.0; f],
                    divisor: sq.into_iter().map(|s| nonzero(s.sqrt())).collect(),
                }
            }
            Normalization::Standardize => {
                let n = train.n_rows.max(1) as f64;
                let mut mean = vec![0f64; f];
                rows(&mut |row| {
                    for (m, &v) in mean.iter_mut().zip(row) {
                        *m += f64::from(v);
                    }
                });
                mean.iter_mut().for_each(|m| *m /= n);
                // Two passes: numerically safer than E[x²] - E[x]² for large offsets.
                let mut var = vec![0f64; f];
                rows(&mut |row| {
                    for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                        let d = f64::from(v) - m;
                        *s += d * d;
                    }
                });
                Normalizer {
                    shift: mean,
                    divisor: var.into_iter().map(|s| nonzero((s / n).sqrt())).collect(),
                }
            }
        }
    }
}

impl std::fmt::Display for Normalization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A zero (or non-finite) scale leaves the column unscaled instead of dividing by zero.
fn nonzero(d: f64) -> f64 {
    if d > 0.0 && d.is_finite() { d } else { 1.0 }
}

/// A fitted transform: `x[:, j] = (x[:, j] - shift[j]) / divisor[j]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalizer {
    /// Subtracted from each column (empty for [`Normalization::None`]).
    pub shift: Vec<f64>,
    /// Each column is divided by this after the shift (never zero).
    pub divisor: Vec<f64>,
}

impl Normalizer {
    /// Applies the transform in place. Only the first `min(fitted, t.n_features)` columns are
    /// touched, so a dataset with extra columns (unseen in training) keeps them as they are.
    /// Byte rows keep their bytes: what each byte stands for in each column is transformed
    /// instead, by the same arithmetic, so they decode to the values `f32` rows would hold.
    pub fn apply(&self, t: &mut Tabular) {
        if self.shift.is_empty() || t.n_features == 0 {
            return;
        }
        let f = t.n_features;
        match &mut t.x {
            Features::F32(x) => {
                for row in x.chunks_exact_mut(f) {
                    for (v, j) in row.iter_mut().zip(0..self.shift.len()) {
                        *v = self.value(j, *v);
                    }
                }
            }
            Features::U8(b) => b.remap(f, |j, v| {
                if j < self.shift.len() {
                    self.value(j, v)
                } else {
                    v
                }
            }),
        }
    }

    /// Column `j`'s transformed value `v` (`j` below the fitted width). The one place the
    /// arithmetic lives: byte rows' tables must match `f32` rows bit for bit.
    fn value(&self, j: usize, v: f32) -> f32 {
        ((f64::from(v) - self.shift[j]) / self.divisor[j]) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(x: Vec<f32>, n_features: usize) -> Tabular {
        let n_rows = x.len() / n_features;
        Tabular {
            name: "t".into(),
            n_rows,
            n_features,
            x: x.into(),
            y: vec![0; n_rows],
            n_classes: 1,
            class_names: vec!["0".into()],
            image_shape: None,
        }
    }

    #[test]
    fn unit_l2_on_a_hand_case() {
        // Columns: (3, 4) has norm 5; (0, 0) stays zero; (1, -1) has norm sqrt(2).
        let mut train = table(vec![3., 0., 1., 4., 0., -1.], 3);
        let norm = Normalization::UnitL2.fit(&train);
        norm.apply(&mut train);
        let s = std::f32::consts::FRAC_1_SQRT_2;
        let want = [0.6, 0., s, 0.8, 0., -s];
        for (a, b) in train.values().iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{:?}", train.x);
        }
        // Held-out rows use the training norms, not their own.
        let mut test = table(vec![10., 2., 2.], 3);
        norm.apply(&mut test);
        let x = test.values();
        assert_eq!(x[0], 2.0);
        assert_eq!(x[1], 2.0);
        assert!((x[2] - 2. * s).abs() < 1e-6);
    }

    #[test]
    fn standardize_on_a_hand_case() {
        // Column 0: 1, 3 → mean 2, std 1. Column 1 is constant 5 → centred only.
        let mut train = table(vec![1., 5., 3., 5.], 2);
        let norm = Normalization::Standardize.fit(&train);
        norm.apply(&mut train);
        assert_eq!(*train.values(), [-1., 0., 1., 0.]);
        let mut test = table(vec![4., 7.], 2);
        norm.apply(&mut test);
        assert_eq!(*test.values(), [2., 2.]);
    }

    #[test]
    fn none_changes_nothing() {
        let mut t = table(vec![1., 2.], 2);
        Normalization::None.fit(&t.clone()).apply(&mut t);
        assert_eq!(*t.values(), [1., 2.]);
    }

    #[test]
    fn serde_names_are_kebab_case() {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StrDeserializer};
        for (text, want) in [
            ("none", Normalization::None),
            ("unit-l2", Normalization::UnitL2),
            ("standardize", Normalization::Standardize),
        ] {
            let d: StrDeserializer<'_, Error> = text.into_deserializer();
            assert_eq!(Normalization::deserialize(d).unwrap(), want);
            assert_eq!(want.as_str(), text);
        }
        let d: StrDeserializer<'_, Error> = "unit_l2".into_deserializer();
        assert!(Normalization::deserialize(d).is_err());
    }
}
