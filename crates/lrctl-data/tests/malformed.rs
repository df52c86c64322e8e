//! Bad input gives an error naming the file and where in it the problem is, never a panic or a
//! silently short dataset.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use lrctl_data::{
    DataDirs, DataError, Subsample, idx, libsvm, load_images, load_libsvm, load_text,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Each bad line, placed on line 3 after a comment and a good row, must fail with the file
/// name, `line 3`, the field number and the offending token in the message.
#[test]
fn bad_libsvm_lines_name_file_line_field_and_token() {
    let cases: &[(&str, usize, &str)] = &[
        ("abc 1:1", 1, "abc"),
        ("nan 1:1", 1, "nan"),
        ("inf 1:1", 1, "inf"),
        ("1,2 1:1", 1, "1,2"),
        ("1:1 2:1", 1, "1:1"),
        ("1 0:1", 2, "0:1"),
        ("1 3:1 2:1", 3, "2:1"),
        ("1 2:1 2:1", 3, "2:1"),
        ("1 a:b", 2, "a:b"),
        ("1 1:nan", 2, "1:nan"),
        ("1 1:inf", 2, "1:inf"),
        ("1 1:-inf", 2, "1:-inf"),
        ("1 1:1e39", 2, "1:1e39"),
        ("1 1", 2, "1"),
        ("1 1:", 2, "1:"),
        ("1 :1", 2, ":1"),
        ("1 -1:1", 2, "-1:1"),
        ("1 1.5:1", 2, "1.5:1"),
        ("1 99999999999:1", 2, "99999999999:1"),
        ("1 1:2:3", 2, "1:2:3"),
        ("1 1:0x10", 2, "1:0x10"),
        ("1 qid:3 2:1 1:1", 4, "1:1"),
        ("+1 1:1 2:\u{e9}", 3, "2:\u{e9}"),
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (i, (line, field, token)) in cases.iter().enumerate() {
        let name = format!("bad{i}.svm");
        let text = format!("# header\n1 1:0.5\n{line}\n2 2:1\n");
        let path = write(tmp.path(), &name, text.as_bytes());
        let err = libsvm::read_file(&path).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, DataError::Parse { line: 3, field: f, .. } if f == *field),
            "{line:?}: {msg}"
        );
        for needle in [name.as_str(), "line 3", &format!("field {field}"), token] {
            assert!(
                msg.contains(needle),
                "{line:?}: `{needle}` missing in: {msg}"
            );
        }
    }
}

#[test]
fn bad_line_inside_gzip_is_located_too() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..1000 {
        text.push_str(&format!("{} 1:{i}\n", i % 3));
    }
    text.push_str("1 5:1 4:1\n");
    let path = write(tmp.path(), "big.svm.gz", &gz(text.as_bytes()));
    let msg = libsvm::read_file(&path).unwrap_err().to_string();
    assert!(
        msg.contains("big.svm.gz") && msg.contains("line 1001"),
        "{msg}"
    );
}

#[test]
fn truncated_gzip_is_an_error_not_a_short_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..5000 {
        text.push_str(&format!("{} 1:{} 7:{}\n", i % 2, i as f32 * 0.37, i % 11));
    }
    let full = gz(text.as_bytes());
    for cut in [full.len() - 1, full.len() - 8, full.len() / 2, 20] {
        let path = write(tmp.path(), "cut.svm.gz", &full[..cut]);
        let err = libsvm::read_file(&path).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataError::Gzip { .. }), "{cut}: {msg}");
        assert!(
            msg.contains("cut.svm.gz") && msg.contains("truncated"),
            "{msg}"
        );
    }
    // The same for IDX and text.
    let images = gz(&idx::encode(&[2, 2, 2], &[0; 8]));
    let path = write(tmp.path(), "img.gz", &images[..images.len() - 3]);
    assert!(matches!(idx::read_file(&path), Err(DataError::Gzip { .. })));
    let path = write(tmp.path(), "t.txt.gz", &full[..full.len() / 3]);
    let err = load_text("x", Some(&path), &DataDirs::only(tmp.path())).unwrap_err();
    assert!(err.to_string().contains("t.txt.gz"), "{err}");
}

#[test]
fn malformed_idx_files_name_the_byte_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let labels = write(tmp.path(), "labels", &idx::encode(&[2], &[3, 4]));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        // Labels where images are expected: wrong magic.
        ("wrong-magic", idx::encode(&[2], &[1, 2]), "byte offset 0"),
        (
            "garbage-magic",
            b"PK\x03\x04 not idx".to_vec(),
            "byte offset 0",
        ),
        // Header promises 2x2x2 = 8 bytes, only 5 there: ends at 16 + 5 = 21.
        ("short", idx::encode(&[2, 2, 2], &[0; 5]), "byte offset 21"),
        // 3 bytes too many: the data should end at byte offset 24.
        ("long", idx::encode(&[2, 2, 2], &[0; 11]), "byte offset 24"),
        ("tiny", vec![0, 0], "byte offset 2"),
        (
            "header-cut",
            vec![0, 0, 8, 3, 0, 0, 0, 2, 0],
            "byte offset 9",
        ),
    ];
    for (name, bytes, offset) in cases {
        let images = write(tmp.path(), name, &bytes);
        let err = idx::load_pair(&images, &labels, "t", Subsample::All).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DataError::Binary { .. }), "{name}: {msg}");
        assert!(msg.contains(name) && msg.contains(offset), "{name}: {msg}");
    }
    // Image and label counts must agree.
    let images = write(tmp.path(), "three", &idx::encode(&[3, 1, 1], &[1, 2, 3]));
    let msg = idx::load_pair(&images, &labels, "t", Subsample::All)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("three") && msg.contains("labels") && msg.contains('3'),
        "{msg}"
    );
}

#[test]
fn missing_files_say_where_they_were_looked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = DataDirs {
        data_dir: Some(tmp.path().join("mirror")),
        cache_dir: Some(tmp.path().join("cache")),
        ..DataDirs::only("")
    };
    let errors = [
        load_libsvm("letter", None, &dirs).unwrap_err(),
        load_images("fashion-mnist", None, &dirs)
            .map(|_| ())
            .unwrap_err(),
        load_text("tinyshakespeare", None, &dirs).unwrap_err(),
    ];
    for err in errors {
        let msg = err.to_string();
        let DataError::NotFound { looked, .. } = &err else {
            panic!("{msg}");
        };
        assert!(!looked.is_empty());
        for p in looked {
            assert!(msg.contains(&p.display().to_string()), "{msg}");
        }
        for needle in [
            "mirror",
            "cache",
            "--data-dir",
            "LRCTL_DATA_DIR",
            "--data PATH",
            "http",
        ] {
            assert!(msg.contains(needle), "`{needle}` missing in: {msg}");
        }
    }
    let gone = tmp.path().join("gone.svm");
    let msg = load_libsvm("file", Some(&gone), &dirs)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("gone.svm") && msg.contains("--data"), "{msg}");
    let msg = load_images("file", Some(tmp.path()), &dirs)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("train-images-idx3-ubyte"), "{msg}");
}

/// A directory of the four IDX files: `train` and `test` images of the given sizes, labels as
/// given.
fn idx_dir(dir: &Path, train: (u32, u32), test: (u32, u32), labels: (&[u8], &[u8])) {
    let images = |(h, w): (u32, u32), n: usize| {
        idx::encode(&[n as u32, h, w], &vec![7; n * (h * w) as usize])
    };
    write(
        dir,
        "train-images-idx3-ubyte",
        &images(train, labels.0.len()),
    );
    write(
        dir,
        "train-labels-idx1-ubyte",
        &idx::encode(&[labels.0.len() as u32], labels.0),
    );
    write(
        dir,
        "t10k-images-idx3-ubyte.gz",
        &gz(&images(test, labels.1.len())),
    );
    write(
        dir,
        "t10k-labels-idx1-ubyte",
        &idx::encode(&[labels.1.len() as u32], labels.1),
    );
}

/// Test images of another size were zero-padded (or cut) to the training size before.
#[test]
fn test_images_of_another_size_are_refused_naming_both_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = DataDirs::only("/nonexistent");
    idx_dir(tmp.path(), (4, 4), (5, 3), (&[0, 1], &[1, 0]));
    let msg = load_images("file", Some(tmp.path()), &dirs)
        .map(drop)
        .unwrap_err()
        .to_string();
    for needle in [
        "train-images-idx3-ubyte",
        "4x4",
        "t10k-images-idx3-ubyte.gz",
        "5x3",
    ] {
        assert!(msg.contains(needle), "`{needle}` missing in: {msg}");
    }
    idx_dir(tmp.path(), (4, 4), (4, 4), (&[0, 1], &[1, 0]));
    let (train, test) = load_images("file", Some(tmp.path()), &dirs).unwrap();
    assert_eq!(
        (train.image_shape, test.image_shape),
        (Some([1, 4, 4]), Some([1, 4, 4]))
    );
}

#[test]
fn test_classes_never_seen_in_training_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = DataDirs::only("/nonexistent");
    // Class 1 lies inside 0..=2 but no training image has it.
    idx_dir(tmp.path(), (4, 4), (4, 4), (&[0, 2, 0], &[0, 2, 1]));
    let msg = load_images("file", Some(tmp.path()), &dirs)
        .map(drop)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("t10k-labels-idx1-ubyte, example 3: class 1 never occurs")
            && msg.contains("train-labels-idx1-ubyte"),
        "{msg}"
    );
    idx_dir(tmp.path(), (4, 4), (4, 4), (&[0, 2, 0], &[0, 9]));
    let msg = load_images("file", Some(tmp.path()), &dirs)
        .map(drop)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("class 9 never occurs"), "{msg}");
}

#[test]
fn unknown_names_list_the_known_ones() {
    let dirs = DataDirs::only("/nonexistent");
    let msg = load_libsvm("leter", None, &dirs).unwrap_err().to_string();
    assert!(
        msg.contains("leter") && msg.contains("letter") && msg.contains("--data"),
        "{msg}"
    );
    let msg = load_images("cifar10", None, &dirs)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("fashion-mnist"), "{msg}");
    let msg = load_text("iris", None, &dirs).unwrap_err().to_string();
    assert!(msg.contains("tinyshakespeare"), "{msg}");
    let msg = lrctl_data::embedded::load("irs").unwrap_err().to_string();
    assert!(msg.contains("breast-cancer"), "{msg}");
}

/// Random bytes, random gzip streams and random corruptions of valid files: every reader
/// returns `Ok` or `Err`, never panics.
#[test]
fn random_input_never_panics() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let p = Path::new("random");
    let valid_svm = b"1 1:0.5 3:2\n-1 2:1 # c\n\n+1 qid:2 4:1e-3\n".to_vec();
    let valid_idx = idx::encode(&[2, 2, 2], &[9; 8]);
    for round in 0..3000 {
        let len = rng.random_range(0..64);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if round % 3 == 1 {
            // Mostly-valid text with a few bytes flipped is likelier to reach deep branches.
            bytes = valid_svm.clone();
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..bytes.len());
                bytes[i] = *b" :+-.#\n0123456789eEnai\t\x00\xff"
                    .get(rng.random_range(0..25))
                    .unwrap();
            }
        } else if round % 3 == 2 {
            bytes = valid_idx.clone();
            let i = rng.random_range(0..bytes.len());
            bytes[i] = rng.random();
            bytes.truncate(rng.random_range(0..=bytes.len()));
        }
        let _ = libsvm::parse(&bytes, p).map(|f| {
            let m = libsvm::ClassMap::from_files(&[&f]);
            f.to_tabular("r", 0, &m)
        });
        let _ = idx::parse(bytes.clone(), p);
        let _ = lrctl_data::read::decode(bytes.clone(), p);
        let mut g = gz(&bytes);
        let cut = rng.random_range(0..=g.len());
        g.truncate(cut);
        let _ = lrctl_data::read::decode(g.clone(), p);
        if g.len() > 10 {
            let i = rng.random_range(10..g.len());
            g[i] ^= 1 << rng.random_range(0..8);
            let _ = lrctl_data::read::decode(g, p);
        }
    }
}
