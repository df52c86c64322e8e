//! Meta-features of tasks and their standardisation.

use serde::{Deserialize, Serialize};

use crate::SelectError;

/// Meta-features of a suite of tasks: `values[task][feature]`, in the task order of the score
/// table they go with. A missing value is NaN (any non-finite value counts as missing).
///
/// JSON has no NaN: missing values serialise as `null` and `null` reads back as NaN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaFeatures {
    /// Feature names, one per column.
    pub names: Vec<String>,
    /// Feature values, indexed `[task][feature]`.
    #[serde(with = "nan_as_null")]
    pub values: Vec<Vec<f64>>,
}

impl MetaFeatures {
    /// Builds the features and checks their shape (see [`MetaFeatures::validate`]).
    pub fn new(names: Vec<String>, values: Vec<Vec<f64>>) -> Result<Self, SelectError> {
        let features = Self { names, values };
        features.validate()?;
        Ok(features)
    }

    /// Checks that every task has one value per feature name.
    pub fn validate(&self) -> Result<(), SelectError> {
        for (t, row) in self.values.iter().enumerate() {
            if row.len() != self.names.len() {
                return Err(SelectError::Shape(format!(
                    "task {t} has {} feature values, expected {}",
                    row.len(),
                    self.names.len()
                )));
            }
        }
        Ok(())
    }

    /// Number of tasks (rows).
    pub fn n_tasks(&self) -> usize {
        self.values.len()
    }

    /// Number of features (columns).
    pub fn n_features(&self) -> usize {
        self.names.len()
    }

    /// A [`Standardizer`] fitted on the given tasks only (e.g. the training tasks of a fold).
    pub fn standardizer(&self, tasks: &[usize]) -> Standardizer {
        let rows: Vec<&[f64]> = tasks.iter().map(|&t| self.values[t].as_slice()).collect();
        Standardizer::fit_rows(&rows, self.n_features())
    }

    /// The rows of `tasks`, standardised by `standardizer`.
    pub fn standardized(&self, standardizer: &Standardizer, tasks: &[usize]) -> Vec<Vec<f64>> {
        tasks
            .iter()
            .map(|&t| standardizer.transform(&self.values[t]))
            .collect()
    }
}

/// Per-feature z-score standardisation `z = (x − mean) / sd`, fitted on training rows.
///
/// Missing values (NaN or ±∞) are skipped when fitting and imputed with the training mean when
/// transforming, i.e. they become `z = 0`. A feature without spread in the training rows (or
/// without any finite training value) carries no information and always maps to 0; so does a
/// column the standardiser was not fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Training mean of every feature (0 when it had no finite value).
    pub mean: Vec<f64>,
    /// Training (population) standard deviation of every feature; 0 marks a constant or empty
    /// feature, which maps to 0.
    pub scale: Vec<f64>,
}

impl Standardizer {
    /// Fits on `rows` (`[row][feature]`) with `n_features` columns; a short row counts its
    /// absent columns as missing.
    pub fn fit(rows: &[Vec<f64>], n_features: usize) -> Self {
        let rows: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        Self::fit_rows(&rows, n_features)
    }

    fn fit_rows(rows: &[&[f64]], n_features: usize) -> Self {
        let mut mean = vec![0.0; n_features];
        let mut scale = vec![0.0; n_features];
        for j in 0..n_features {
            let col: Vec<f64> = rows
                .iter()
                .filter_map(|r| r.get(j).copied())
                .filter(|x| x.is_finite())
                .collect();
            if col.is_empty() {
                continue;
            }
            let n = col.len() as f64;
            let m = col.iter().sum::<f64>() / n;
            let var = col.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
            mean[j] = m;
            let sd = var.sqrt();
            // Relative threshold: a spread at rounding level is no spread.
            scale[j] = if sd.is_finite() && sd > 1e-12 * (1.0 + m.abs()) {
                sd
            } else {
                0.0
            };
        }
        Self { mean, scale }
    }

    /// Number of features it was fitted on.
    pub fn n_features(&self) -> usize {
        self.mean.len()
    }

    /// Standardises one row (one value per input entry; see the type's documentation for
    /// missing values and constant features). The result is always finite.
    pub fn transform(&self, row: &[f64]) -> Vec<f64> {
        row.iter()
            .enumerate()
            .map(|(j, &x)| {
                let (m, s) = (
                    self.mean.get(j).copied().unwrap_or(0.0),
                    self.scale.get(j).copied().unwrap_or(0.0),
                );
                let z = if x.is_finite() && s > 0.0 {
                    (x - m) / s
                } else {
                    0.0
                };
                if z.is_finite() { z } else { 0.0 }
            })
            .collect()
    }

    /// [`Standardizer::transform`] of every row.
    pub fn transform_all(&self, rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
        rows.iter().map(|r| self.transform(r)).collect()
    }
}

/// Serialises non-finite floats as `null` and reads `null` back as NaN.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &[Vec<f64>], s: S) -> Result<S::Ok, S::Error> {
        let opt: Vec<Vec<Option<f64>>> = v
            .iter()
            .map(|r| r.iter().map(|&x| x.is_finite().then_some(x)).collect())
            .collect();
        opt.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
        let opt = Vec::<Vec<Option<f64>>>::deserialize(d)?;
        Ok(opt
            .into_iter()
            .map(|r| r.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardizer_uses_training_rows_only() {
        let f =
            MetaFeatures::new(vec!["a".into()], vec![vec![0.0], vec![2.0], vec![100.0]]).unwrap();
        let s = f.standardizer(&[0, 1]);
        assert_eq!(s.mean, vec![1.0]);
        assert_eq!(s.scale, vec![1.0]);
        assert_eq!(s.transform(&[100.0]), vec![99.0]);
    }

    #[test]
    fn nan_becomes_training_mean_and_constant_maps_to_zero() {
        let rows = vec![vec![1.0, 5.0], vec![f64::NAN, 5.0], vec![3.0, 5.0]];
        let s = Standardizer::fit(&rows, 2);
        assert_eq!(s.mean, vec![2.0, 5.0]);
        assert_eq!(s.scale[1], 0.0);
        assert_eq!(s.transform(&[f64::NAN, 7.0]), vec![0.0, 0.0]);
        assert_eq!(s.transform(&[f64::INFINITY, f64::NAN]), vec![0.0, 0.0]);
        assert_eq!(s.transform(&[3.0, 5.0]), vec![1.0, 0.0]);
    }

    #[test]
    fn all_missing_and_empty() {
        let s = Standardizer::fit(&[vec![f64::NAN]], 1);
        assert_eq!(s.transform(&[4.0]), vec![0.0]);
        let s = Standardizer::fit(&[], 2);
        assert_eq!(s.transform(&[4.0, 1.0]), vec![0.0, 0.0]);
    }

    #[test]
    fn shape_is_validated_and_json_roundtrips_nan() {
        assert!(MetaFeatures::new(vec!["a".into()], vec![vec![1.0, 2.0]]).is_err());
        let f = MetaFeatures::new(vec!["a".into()], vec![vec![f64::NAN], vec![1.5]]).unwrap();
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.contains("null"));
        let back: MetaFeatures = serde_json::from_str(&json).unwrap();
        assert!(back.values[0][0].is_nan());
        assert_eq!(back.values[1][0], 1.5);
    }
}
