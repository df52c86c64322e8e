//! Datasets compiled into dependencies (smartcore, linfa-datasets), so the default suite needs
//! no files at all.

use crate::Tabular;
use crate::error::DataError;

/// Names of the embedded datasets.
pub const NAMES: &[&str] = &["iris", "breast-cancer", "digits", "wine-quality"];

/// One-line description of an embedded dataset, `None` for an unknown name.
pub fn describe(name: &str) -> Option<&'static str> {
    Some(match name {
        "iris" => "Fisher's iris: 150 flowers, 4 measurements, 3 species (smartcore)",
        "breast-cancer" => {
            "Wisconsin diagnostic breast cancer: 569 cases, 30 features, 2 classes (smartcore)"
        }
        "digits" => {
            "UCI optical digits: 1797 8x8 images, pixels 0..16 scaled to [0, 1] (smartcore)"
        }
        "wine-quality" => {
            "red wine quality: 1599 wines, 11 features, 6 quality scores 3..8 (linfa-datasets)"
        }
        _ => return None,
    })
}

/// Loads an embedded dataset by name.
pub fn load(name: &str) -> Result<Tabular, DataError> {
    match name {
        "iris" => {
            let d = smartcore::dataset::iris::load_dataset();
            let names = d.target_names.clone();
            Ok(from_smartcore(
                name,
                d.data,
                &d.target,
                d.num_features,
                names,
            ))
        }
        "breast-cancer" => {
            let d = smartcore::dataset::breast_cancer::load_dataset();
            // smartcore only says "malignant or benign [0, 1]": 0 = malignant as in the UCI
            // data's usual encoding (212 malignant, 357 benign).
            let names = vec!["malignant".to_string(), "benign".to_string()];
            Ok(from_smartcore(
                name,
                d.data,
                &d.target,
                d.num_features,
                names,
            ))
        }
        "digits" => {
            let d = smartcore::dataset::digits::load_dataset();
            let target: Vec<u32> = d.target.iter().map(|&t| t as u32).collect();
            // Pixels are counts 0..16 (4x4 blocks of a 32x32 bitmap).
            let x = d.data.iter().map(|&v| v / 16.0).collect();
            let names = (0..10).map(|c| c.to_string()).collect();
            let mut t = from_smartcore(name, x, &target, d.num_features, names);
            t.image_shape = Some([1, 8, 8]);
            Ok(t)
        }
        "wine-quality" => {
            let d = linfa_datasets::winequality();
            let n_features = d.records.ncols();
            // Iterating an ndarray yields logical (row-major) order whatever the memory layout.
            let x: Vec<f32> = d.records.iter().map(|&v| v as f32).collect();
            let scores: Vec<usize> = d.targets.iter().copied().collect();
            let mut distinct = scores.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let y = scores
                .iter()
                .map(|s| distinct.binary_search(s).unwrap_or_default() as u32)
                .collect();
            Ok(Tabular {
                name: name.to_string(),
                n_rows: scores.len(),
                n_features,
                x: x.into(),
                y,
                n_classes: distinct.len(),
                class_names: distinct.iter().map(|s| s.to_string()).collect(),
                image_shape: None,
            })
        }
        _ => Err(DataError::UnknownDataset {
            kind: "embedded",
            name: name.to_string(),
            known: NAMES.join(", "),
            hint: String::new(),
        }),
    }
}

fn from_smartcore(
    name: &str,
    x: Vec<f32>,
    target: &[u32],
    n_features: usize,
    class_names: Vec<String>,
) -> Tabular {
    let n_classes = target
        .iter()
        .map(|&t| t as usize + 1)
        .max()
        .unwrap_or(0)
        .max(class_names.len());
    Tabular {
        name: name.to_string(),
        n_rows: target.len(),
        n_features,
        x: x.into(),
        y: target.to_vec(),
        n_classes,
        class_names,
        image_shape: None,
    }
}
