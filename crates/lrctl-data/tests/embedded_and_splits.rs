//! Embedded datasets have their documented shapes; splits are seeded, disjoint and covering;
//! normalisation fitted on training rows behaves on real data.

mod common;

use lrctl_data::split::{self, Subsample};
use lrctl_data::{DataDirs, Normalization, embedded, load_libsvm};

#[test]
fn embedded_datasets_have_their_shapes() {
    let expected = [
        ("iris", 150, 4, 3),
        ("breast-cancer", 569, 30, 2),
        ("digits", 1797, 64, 10),
        ("wine-quality", 1599, 11, 6),
    ];
    assert_eq!(embedded::NAMES.len(), expected.len());
    for (name, rows, features, classes) in expected {
        let t = embedded::load(name).unwrap();
        assert_eq!(
            (t.n_rows, t.n_features, t.n_classes),
            (rows, features, classes),
            "{name}"
        );
        assert_eq!(t.x.len(), rows * features, "{name}");
        assert_eq!(t.y.len(), rows, "{name}");
        assert_eq!(t.class_names.len(), classes, "{name}");
        assert_eq!(t.n_present_classes(), classes, "{name}");
        assert!(t.values().iter().all(|v| v.is_finite()), "{name}");
        assert!(embedded::describe(name).is_some());
    }
}

/// The catalog's shapes (what model sizes are computed from, without loading anything) are
/// those of the loaded data.
#[test]
fn catalog_shapes_of_embedded_datasets_are_the_loaded_ones() {
    let catalog = lrctl_data::catalog::embedded();
    assert_eq!(
        catalog.iter().map(|e| e.name).collect::<Vec<_>>(),
        embedded::NAMES
    );
    for e in catalog {
        let t = embedded::load(e.name).unwrap();
        let s = e.shape;
        assert_eq!(
            (s.rows, s.features, s.classes, s.image, s.test_rows),
            (t.n_rows, t.n_features, t.n_classes, t.image_shape, None),
            "{}",
            e.name
        );
        assert_eq!(lrctl_data::catalog::embedded_shape(e.name), Some(s));
    }
    assert_eq!(lrctl_data::catalog::embedded_shape("letter"), None);
}

#[test]
fn embedded_labels_and_scaling() {
    let digits = embedded::load("digits").unwrap();
    assert_eq!(digits.image_shape, Some([1, 8, 8]));
    assert!(digits.values().iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert_eq!(digits.values().iter().copied().fold(0f32, f32::max), 1.0);
    // Known class sizes: 50 of each iris species, 212 malignant / 357 benign.
    assert_eq!(embedded::load("iris").unwrap().class_counts(), vec![50; 3]);
    let bc = embedded::load("breast-cancer").unwrap();
    assert_eq!(bc.class_counts(), vec![212, 357]);
    assert_eq!(bc.class_names, vec!["malignant", "benign"]);
    // Red wine quality scores 3..8 with the UCI frequencies.
    let wine = embedded::load("wine-quality").unwrap();
    assert_eq!(wine.class_names, vec!["3", "4", "5", "6", "7", "8"]);
    assert_eq!(wine.class_counts(), vec![10, 53, 681, 638, 199, 18]);
    // First row of the red wine CSV: 7.4, 0.7, 0, 1.9, ...
    assert_eq!(&wine.row(0)[..4], &[7.4, 0.7, 0.0, 1.9]);
}

fn is_sorted_partition(parts: &[&[usize]], n: usize) -> bool {
    let mut all: Vec<usize> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    let sorted = parts.iter().all(|p| p.windows(2).all(|w| w[0] < w[1]));
    all.sort_unstable();
    sorted && all == (0..n).collect::<Vec<_>>()
}

#[test]
fn holdout_is_seeded_disjoint_and_covering() {
    let (kept, held) = split::holdout(1000, 0.2, 42);
    assert_eq!((kept.len(), held.len()), (800, 200));
    assert!(is_sorted_partition(&[&kept, &held], 1000));
    assert_eq!(split::holdout(1000, 0.2, 42), (kept.clone(), held.clone()));
    assert_ne!(split::holdout(1000, 0.2, 43).1, held);
    assert_eq!(split::holdout(0, 0.5, 1), (vec![], vec![]));
}

#[test]
fn three_way_split_is_seeded_disjoint_and_covering() {
    let s = split::three_way(101, 0.1, 0.2, 5);
    assert_eq!(
        (s.train.len(), s.validation.len(), s.test.len()),
        (71, 10, 20)
    );
    assert!(is_sorted_partition(
        &[&s.train, &s.validation, &s.test],
        101
    ));
    assert_eq!(split::three_way(101, 0.1, 0.2, 5), s);
    assert_ne!(split::three_way(101, 0.1, 0.2, 6), s);
}

#[test]
fn shuffle_and_sample_are_seeded() {
    let a = split::shuffled(500, 1);
    assert_eq!(a, split::shuffled(500, 1));
    assert_ne!(a, split::shuffled(500, 2));
    let mut sorted = a.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..500).collect::<Vec<_>>());
    let s = split::sample(60_000, 10_000, 9);
    assert_eq!(s.len(), 10_000);
    assert!(s.windows(2).all(|w| w[0] < w[1]) && *s.last().unwrap() < 60_000);
    assert_eq!(s, split::sample(60_000, 10_000, 9));
    assert_ne!(s, split::sample(60_000, 10_000, 10));
    assert_eq!(Subsample::Random { n: 10_000, seed: 9 }.indices(60_000), s);
}

#[test]
fn subset_and_with_features_keep_rows_aligned() {
    let iris = embedded::load("iris").unwrap();
    let sub = iris.subset(&[149, 0, 75]);
    assert_eq!(sub.n_rows, 3);
    assert_eq!(sub.row(0), iris.row(149));
    assert_eq!(sub.row(2), iris.row(75));
    assert_eq!(sub.y, vec![iris.y[149], iris.y[0], iris.y[75]]);
    assert_eq!(sub.class_names, iris.class_names);
    let wide = sub.clone().with_features(6);
    assert_eq!(
        wide.row(1),
        &[&iris.row(0)[..], &[0.0, 0.0][..]].concat()[..]
    );
    let narrow = sub.with_features(2);
    assert_eq!(narrow.row(2), &iris.row(75)[..2]);
}

#[test]
fn unit_l2_on_a_real_training_split() {
    let dirs = DataDirs::only(common::mirror());
    let s = load_libsvm("vehicle", None, &dirs).unwrap();
    let (tr, va) = split::holdout(s.train.n_rows, 0.25, 3);
    let (mut train, mut val) = (s.train.subset(&tr), s.train.subset(&va));
    let before = val.clone();
    let norm = Normalization::UnitL2.fit(&train);
    norm.apply(&mut train);
    norm.apply(&mut val);
    for j in 0..train.n_features {
        let sq: f64 = (0..train.n_rows)
            .map(|i| f64::from(train.row(i)[j]).powi(2))
            .sum();
        assert!((sq - 1.0).abs() < 1e-5, "column {j}: {sq}");
    }
    // Validation rows are scaled by the training norms, so ratios between splits survive.
    let j = 0;
    let r = f64::from(val.row(0)[j]) / f64::from(before.row(0)[j]);
    assert!((r - 1.0 / norm.divisor[j]).abs() < 1e-6);
}
