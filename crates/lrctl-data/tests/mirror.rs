//! Every file of the data mirror loads with the counts its MANIFEST.tsv states, and the
//! catalog agrees with the manifest.

mod common;

use std::collections::BTreeSet;

use common::{manifest, mirror};
use lrctl_data::catalog::{self, Kind, Role};
use lrctl_data::{DataDirs, idx, libsvm, load_images, load_libsvm, load_text, locate};

#[test]
fn every_libsvm_file_matches_the_manifest() {
    let dir = mirror();
    let rows = manifest();
    let mut checked = 0;
    for m in rows.iter().filter(|m| m.path.starts_with("libsvm/")) {
        let path = dir.join(&m.path);
        let (Some(features), Some(classes)) = (m.features, m.classes) else {
            // Only the feature-name map of agaricus has no counts: it is not LIBSVM data.
            assert!(m.path.ends_with("featmap.txt"), "{} lacks counts", m.path);
            continue;
        };
        let raw = libsvm::read_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            raw.max_index <= features,
            "{}: index {}",
            m.path,
            raw.max_index
        );
        let t = libsvm::load_file(&path, &m.path, Some(features)).unwrap();
        assert_eq!(t.n_rows, m.rows, "{} rows", m.path);
        assert_eq!(t.n_features, features, "{} features", m.path);
        assert_eq!(t.n_classes, classes, "{} classes", m.path);
        assert_eq!(t.n_present_classes(), classes, "{}", m.path);
        assert_eq!(t.x.len(), t.n_rows * t.n_features);
        assert!(t.values().iter().all(|v| v.is_finite()));
        checked += 1;
    }
    // Every data file of the folder was checked (the manifest-coverage test below makes sure
    // the manifest lists them all).
    let on_disk = std::fs::read_dir(dir.join("libsvm"))
        .unwrap()
        .filter(|e| {
            !e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with("featmap.txt")
        })
        .count();
    assert_eq!(checked, on_disk, "LIBSVM data files checked");
    assert!(checked >= 18);
}

#[test]
fn manifest_lists_every_file_of_the_mirror() {
    let dir = mirror();
    let listed: BTreeSet<String> = manifest().into_iter().map(|m| m.path).collect();
    for sub in ["libsvm", "mnist", "fashion-mnist", "text"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let name = format!("{sub}/{}", entry.unwrap().file_name().to_string_lossy());
            assert!(listed.contains(&name), "{name} is not in MANIFEST.tsv");
        }
    }
}

#[test]
fn catalog_pins_the_manifest_sizes_hashes_and_counts() {
    let rows = manifest();
    let mut in_catalog = BTreeSet::new();
    for d in catalog::all() {
        for f in d.files {
            let m = rows
                .iter()
                .find(|m| m.path == f.path)
                .unwrap_or_else(|| panic!("{} not in MANIFEST.tsv", f.path));
            assert_eq!(
                (f.bytes, f.sha256, f.rows),
                (m.bytes, m.sha256.as_str(), m.rows),
                "{}",
                f.path
            );
            if matches!(d.kind, Kind::Libsvm) {
                assert_eq!(d.features, m.features, "{}", f.path);
                assert_eq!(d.classes, m.classes, "{}", f.path);
            }
            in_catalog.insert(f.path);
        }
    }
    // Every data file of the manifest is reachable by name (the feature map is not data).
    for m in &rows {
        if !m.path.ends_with("featmap.txt") {
            assert!(
                in_catalog.contains(m.path.as_str()),
                "{} not in catalog",
                m.path
            );
        }
    }
}

#[test]
fn every_mirror_file_has_its_pinned_sha256() {
    let dir = mirror();
    for m in manifest() {
        let path = dir.join(&m.path);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            m.bytes,
            "{}",
            m.path
        );
        locate::verify_sha256(&path, &m.sha256).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn every_catalog_file_has_its_pinned_content_sha256() {
    use sha2::{Digest, Sha256};
    let dir = mirror();
    for d in catalog::all() {
        for f in d.files {
            let content = lrctl_data::read::read_bytes(&dir.join(f.path)).unwrap();
            let sha: String = Sha256::digest(&content)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(sha, f.content_sha256, "{}", f.path);
        }
    }
}

#[test]
fn train_and_test_files_share_classes_and_features() {
    let dirs = DataDirs::only(mirror());
    for name in catalog::names(Kind::Libsvm) {
        let d = catalog::find(name).unwrap();
        let s = load_libsvm(name, None, &dirs).unwrap_or_else(|e| panic!("{e}"));
        let features = d.features.unwrap();
        assert_eq!(s.train.n_rows, d.file(Role::Train).unwrap().rows, "{name}");
        assert_eq!(s.train.n_features, features, "{name}");
        assert_eq!(s.train.n_classes, d.classes.unwrap(), "{name}");
        match (d.file(Role::Test), &s.test) {
            (Some(f), Some(t)) => {
                assert_eq!(t.n_rows, f.rows, "{name} test rows");
                assert_eq!(t.n_features, features, "{name} test features");
                assert_eq!(t.n_classes, s.train.n_classes, "{name}");
                assert_eq!(t.class_names, s.train.class_names, "{name}");
            }
            (None, None) => {}
            _ => panic!("{name}: test file presence differs from the catalog"),
        }
    }
}

#[test]
fn ijcnn1_spellings_map_to_the_same_classes() {
    let dir = mirror();
    let s = load_libsvm("ijcnn1", None, &DataDirs::only(&dir)).unwrap();
    assert_eq!(s.train.class_names, vec!["-1.0", "1.0"]);
    let test = s.test.unwrap();
    let raw = libsvm::read_file(&dir.join("libsvm/ijcnn1.t.gz")).unwrap();
    let spellings: Vec<&str> = raw
        .label_spellings
        .iter()
        .map(|(_, s)| s.as_str())
        .collect();
    assert!(
        spellings.contains(&"-1") && spellings.contains(&"1"),
        "{spellings:?}"
    );
    for (y, l) in test.y.iter().zip(&raw.labels) {
        assert_eq!(*y, u32::from(*l > 0.0));
    }
    // a9a uses `+1` / `-1`: class 0 is the negative one there too.
    let a9a = load_libsvm("a9a", None, &DataDirs::only(&dir)).unwrap();
    assert_eq!(a9a.train.class_names, vec!["-1", "+1"]);
}

#[test]
fn idx_files_match_the_manifest() {
    let dir = mirror();
    for m in manifest() {
        if !(m.path.starts_with("mnist/") || m.path.starts_with("fashion-mnist/")) {
            continue;
        }
        let a = idx::read_file(&dir.join(&m.path)).unwrap();
        assert_eq!(a.dims[0], m.rows, "{}", m.path);
        if let Some(f) = m.features {
            assert_eq!(a.magic(), idx::IMAGES_MAGIC);
            assert_eq!(a.dims[1] * a.dims[2], f, "{}", m.path);
        }
        if let Some(k) = m.classes {
            assert_eq!(a.magic(), idx::LABELS_MAGIC);
            let distinct: BTreeSet<u8> = a.data().iter().copied().collect();
            assert_eq!(distinct.len(), k, "{}", m.path);
        }
    }
}

#[test]
fn image_datasets_load_as_scaled_28x28_rows() {
    let dirs = DataDirs::only(mirror());
    for name in catalog::names(Kind::Images) {
        let d = catalog::find(name).unwrap();
        let start = std::time::Instant::now();
        let (train, test) = load_images(name, None, &dirs).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("{name}: loaded in {:.2?}", start.elapsed());
        assert_eq!(train.n_rows, d.file(Role::TrainImages).unwrap().rows);
        assert_eq!(test.n_rows, d.file(Role::TestImages).unwrap().rows);
        for t in [&train, &test] {
            assert_eq!(t.n_features, 784);
            assert_eq!(t.n_classes, 10);
            assert_eq!(t.n_present_classes(), 10);
            assert_eq!(t.image_shape, Some([1, 28, 28]));
            assert!(t.values().iter().all(|&v| (0.0..=1.0).contains(&v)));
            assert_eq!(t.values().iter().copied().fold(0f32, f32::max), 1.0);
        }
    }
}

#[test]
fn text_corpora_match_the_manifest() {
    let dir = mirror();
    let rows = manifest();
    for name in catalog::names(Kind::Text) {
        let f = catalog::find(name).unwrap().file(Role::Corpus).unwrap();
        let m = rows.iter().find(|m| m.path == f.path).unwrap();
        let c = load_text(name, None, &DataDirs::only(&dir)).unwrap();
        assert_eq!(c.n_lines(), m.rows, "{name}");
        assert!(c.bytes.is_ascii(), "{name}");
    }
    let tiny = load_text("tinyshakespeare", None, &DataDirs::only(&dir)).unwrap();
    assert_eq!(tiny.bytes.len(), 1_115_394);
}

#[test]
fn explicit_paths_load_user_files_with_their_test_sibling() {
    let dir = mirror();
    let none = DataDirs::only(dir.join("does-not-exist"));
    // `pendigits` has a `pendigits.t` sibling, `w8a.gz` has none.
    let s = load_libsvm("file", Some(&dir.join("libsvm/pendigits")), &none).unwrap();
    assert_eq!(
        (s.train.n_rows, s.test.as_ref().unwrap().n_rows),
        (7494, 3498)
    );
    let s = load_libsvm("file", Some(&dir.join("libsvm/w8a.gz")), &none).unwrap();
    assert_eq!((s.train.n_rows, s.test.is_none()), (49749, true));
    // `.train` / `.test` pairs (agaricus).
    let s = load_libsvm("file", Some(&dir.join("libsvm/agaricus.txt.train")), &none).unwrap();
    assert_eq!(s.test.unwrap().n_rows, 1611);
    let (train, _) = load_images("idx", Some(&dir.join("mnist")), &none).unwrap();
    assert_eq!(train.n_rows, 60_000);
    let c = load_text("file", Some(&dir.join("text/tinyshakespeare.txt")), &none).unwrap();
    assert_eq!(c.name, "tinyshakespeare.txt");
}

/// Every mirror dataset loads with exactly the shape the catalog states (model sizes and step
/// counts are computed from the catalog without loading).
#[test]
fn catalog_shapes_are_the_loaded_ones() {
    let dirs = DataDirs::only(mirror());
    for d in catalog::all() {
        let s = d.shape();
        match d.kind {
            Kind::Libsvm => {
                let l = load_libsvm(d.name, None, &dirs).unwrap();
                let t = &l.train;
                assert_eq!(
                    (t.n_rows, t.n_features, t.n_classes, t.image_shape),
                    (s.rows, s.features, s.classes, s.image),
                    "{}",
                    d.name
                );
                assert_eq!(l.test.map(|t| t.n_rows), s.test_rows, "{}", d.name);
            }
            Kind::Images => {
                let (train, test) = load_images(d.name, None, &dirs).unwrap();
                assert_eq!(
                    (
                        train.n_rows,
                        train.n_features,
                        train.n_classes,
                        train.image_shape
                    ),
                    (s.rows, s.features, s.classes, s.image),
                    "{}",
                    d.name
                );
                assert_eq!(Some(test.n_rows), s.test_rows, "{}", d.name);
            }
            Kind::Text => {
                let c = load_text(d.name, None, &dirs).unwrap();
                assert_eq!((c.bytes.len(), s.classes), (s.rows, 256), "{}", d.name);
            }
        }
    }
}
