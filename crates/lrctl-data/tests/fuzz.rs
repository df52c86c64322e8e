//! Property-based fuzzing of the readers: arbitrary bytes and near-valid files give a dataset
//! or an error that names the file (and, for text formats, the line), never a panic.
//!
//! Each property runs `PROPTEST_CASES` cases (default 256, about a second); for a longer run:
//! `PROPTEST_CASES=100000 cargo test --release -p lrctl-data --test fuzz`.

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use lrctl_data::{DataDirs, DataError, Subsample, idx, libsvm, load_images, load_libsvm, text};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig::with_cases(cases)
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Checks what every data error must do: name `file`; a parse error also names its line.
fn check_error(e: &DataError, file: &str) {
    let msg = e.to_string();
    assert!(msg.contains(file), "error does not name {file}: {msg}");
    if let DataError::Parse { line, field, .. } = e {
        assert!(*line >= 1 && *field >= 1, "{msg}");
        assert!(msg.contains(&format!("line {line}")), "{msg}");
    }
    assert!(msg.chars().count() < 2000, "runaway message: {msg}");
}

/// One LIBSVM token that is valid, nearly valid or hostile.
fn token() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        Just("1".to_string()),
        Just("-1".to_string()),
        Just("+1".to_string()),
        Just("0.5e-3".to_string()),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("1e999".to_string()),
        Just("-0".to_string()),
        Just("".to_string()),
        Just("é".to_string()),
        any::<i32>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| v.to_string()),
    ];
    let index = prop_oneof![
        Just("0".to_string()),
        Just("1".to_string()),
        Just("4294967295".to_string()),
        Just("4294967296".to_string()),
        Just("99999999999999999999".to_string()),
        Just("".to_string()),
        Just("-3".to_string()),
        (1u32..40).prop_map(|v| v.to_string()),
    ];
    prop_oneof![
        (index, number.clone()).prop_map(|(i, v)| format!("{i}:{v}")),
        number,
        Just("qid:3".to_string()),
        Just("#".to_string()),
        Just("a,b".to_string()),
        Just(":".to_string()),
        Just("1:2:3".to_string()),
        "[ -~]{0,6}",
    ]
}

fn near_valid_libsvm() -> impl Strategy<Value = Vec<u8>> {
    let line = proptest::collection::vec(token(), 0..6).prop_map(|t| t.join(" "));
    (proptest::collection::vec(line, 0..8), any::<bool>())
        .prop_map(|(lines, crlf)| lines.join(if crlf { "\r\n" } else { "\n" }).into_bytes())
}

fn near_valid_idx() -> impl Strategy<Value = Vec<u8>> {
    let dims = proptest::collection::vec(prop_oneof![0u32..5, Just(u32::MAX), Just(1 << 16)], 0..4);
    (
        dims,
        proptest::collection::vec(any::<u8>(), 0..80),
        any::<bool>(),
        0u8..4,
    )
        .prop_map(|(dims, data, exact, cut)| {
            let mut bytes = idx::encode(&dims, &data);
            let want: Option<usize> = dims
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d as usize));
            if exact && let Some(n) = want.filter(|&n| n < 4096) {
                bytes.truncate(4 + 4 * dims.len());
                bytes.extend((0..n).map(|i| i as u8));
            }
            let keep = bytes.len().saturating_sub(cut as usize);
            bytes.truncate(keep);
            bytes
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn libsvm_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        match libsvm::parse(&bytes, Path::new("fuzz.svm")) {
            Ok(f) => {
                let m = libsvm::ClassMap::from_files(&[&f]);
                if let Err(e) = f.to_tabular("f", 0, &m) {
                    check_error(&e, "fuzz.svm");
                }
            }
            Err(e) => check_error(&e, "fuzz.svm"),
        }
    }

    #[test]
    fn near_valid_libsvm_files_load_or_name_file_and_line(
        train in near_valid_libsvm(),
        test in proptest::option::of(near_valid_libsvm()),
        compress in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("near.svm");
        std::fs::write(&path, if compress { gz(&train) } else { train.clone() }).unwrap();
        if let Some(t) = &test {
            std::fs::write(dir.path().join("near.svm.t"), t).unwrap();
        }
        match load_libsvm("file", Some(&path), &DataDirs::only("/nonexistent")) {
            Ok(l) => {
                let t = &l.train;
                prop_assert_eq!(t.x.len(), t.n_rows * t.n_features);
                prop_assert!(t.y.iter().all(|&c| (c as usize) < t.n_classes));
                if let Some(test) = &l.test {
                    prop_assert_eq!(test.n_features, t.n_features);
                    let seen = t.class_counts();
                    prop_assert!(test.y.iter().all(|&c| seen[c as usize] > 0));
                }
            }
            Err(e) => check_error(&e, "near.svm"),
        }
    }

    #[test]
    fn idx_parsing_never_panics(bytes in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        near_valid_idx(),
    ]) {
        if let Err(e) = idx::parse(bytes, Path::new("fuzz.idx")) {
            check_error(&e, "fuzz.idx");
        }
    }

    #[test]
    fn idx_pairs_load_or_name_a_file(
        images in near_valid_idx(),
        labels in near_valid_idx(),
        n in 0usize..5,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (i, l) = (dir.path().join("img.idx"), dir.path().join("lab.idx"));
        std::fs::write(&i, &images).unwrap();
        std::fs::write(&l, &labels).unwrap();
        for sub in [Subsample::All, Subsample::First(n), Subsample::Random { n, seed: 1 }] {
            match idx::load_pair(&i, &l, "pair", sub) {
                Ok(t) => {
                    prop_assert_eq!(t.x.len(), t.n_rows * t.n_features);
                    prop_assert!(t.n_features > 0);
                }
                Err(e) => {
                    let msg = e.to_string();
                    prop_assert!(msg.contains("img.idx") || msg.contains("lab.idx"), "{}", msg);
                }
            }
        }
    }

    #[test]
    fn idx_directories_load_or_name_a_file(
        train in near_valid_idx(),
        test in near_valid_idx(),
        labels in near_valid_idx(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in [
            ("train-images-idx3-ubyte", &train),
            ("t10k-images-idx3-ubyte", &test),
            ("train-labels-idx1-ubyte", &labels),
            ("t10k-labels-idx1-ubyte", &labels),
        ] {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        if let Err(e) = load_images("idx", Some(dir.path()), &DataDirs::only("/nonexistent")) {
            let msg = e.to_string();
            prop_assert!(msg.contains("-idx"), "{}", msg);
        }
    }

    #[test]
    fn text_files_read_or_name_the_file(
        bytes in proptest::collection::vec(any::<u8>(), 0..100),
        compress in any::<bool>(),
        cut in 0usize..20,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corpus.txt");
        let mut content = if compress { gz(&bytes) } else { bytes.clone() };
        if compress {
            content.truncate(content.len().saturating_sub(cut));
        }
        std::fs::write(&path, &content).unwrap();
        match text::read_file(&path, "corpus") {
            Ok(c) => prop_assert!(!c.bytes.is_empty()),
            Err(e) => check_error(&e, "corpus.txt"),
        }
    }
}
