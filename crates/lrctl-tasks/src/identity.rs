//! The identity of a user's data: a task that reads an explicit file is pinned to the SHA-256
//! of its content, so that a study run from another directory, or a worker whose file differs,
//! never trains other data under the same cell configuration (mirror datasets are identified
//! by their catalog name, whose files the catalog pins itself).

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::TaskError;
use crate::spec::{DataSpec, TaskSpec};

impl TaskSpec {
    /// SHA-256 (hex) over the content of the data files this task reads from an explicit
    /// path: the file (a LIBSVM file with its `.t` sibling when present, a text corpus) or every
    /// file of an IDX directory, by name. `None` for embedded and mirror datasets.
    pub fn data_identity(&self) -> Result<Option<String>, TaskError> {
        let Some(path) = self.data.path() else {
            return Ok(None);
        };
        let fail = |e: std::io::Error| TaskError::Invalid {
            name: self.name.clone(),
            reason: format!(
                "cannot read its data {} to identify it: {e}",
                path.display()
            ),
        };
        // (label, file): the label enters the hash, the place does not. An IDX directory's
        // files are labelled by name (which one is the test set matters); a single file by
        // its role.
        let mut files: Vec<(String, std::path::PathBuf)> = Vec::new();
        if path.is_dir() {
            for e in std::fs::read_dir(path).map_err(fail)? {
                let p = e.map_err(fail)?.path();
                if p.is_file() {
                    let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                    files.push((name.unwrap_or_default(), p));
                }
            }
            files.sort();
        } else {
            files.push(("data".into(), path.to_path_buf()));
            // The same test file the loader reads (`PATH.t`, `NAME.test`, …).
            if matches!(self.data, DataSpec::Libsvm { .. })
                && let Some(sibling) = lrctl_data::locate::test_sibling(path)
            {
                files.push(("test".into(), sibling));
            }
        }
        let mut h = Sha256::new();
        for (label, f) in &files {
            h.update(label.as_bytes());
            h.update([0]);
            hash_file(f, &mut h).map_err(fail)?;
        }
        Ok(Some(hex(&h.finalize())))
    }

    /// This task with its data's identity recorded in [`TaskSpec::data_sha256`] (unchanged for
    /// embedded and mirror datasets).
    pub fn pinned(mut self) -> Result<TaskSpec, TaskError> {
        self.data_sha256 = self.data_identity()?;
        Ok(self)
    }

    /// Checks that the data at the task's path is the data it was pinned to.
    pub fn check_identity(&self) -> Result<(), TaskError> {
        let Some(expected) = &self.data_sha256 else {
            return Ok(());
        };
        // A missing file is the loader's to report (it says where it looked, and a worker
        // leaves such a cell to another machine).
        if self.data.path().is_some_and(|p| !p.exists()) {
            return Ok(());
        }
        let found = self.data_identity()?;
        if found.as_deref() == Some(expected.as_str()) {
            return Ok(());
        }
        Err(TaskError::Invalid {
            name: self.name.clone(),
            reason: format!(
                "the data at {} is not the data this task was defined with (SHA-256 {} here, \
                 {} when the study was submitted): put the same file there, or run the study \
                 again so its cells are defined by this file",
                self.data
                    .path()
                    .map_or_else(|| "?".into(), |p| p.display().to_string()),
                found.as_deref().map_or("?", |s| &s[..12.min(s.len())]),
                &expected[..12.min(expected.len())]
            ),
        })
    }
}

fn hash_file(path: &Path, h: &mut Sha256) -> std::io::Result<()> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        h.update(&buf[..n]);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(path: &Path) -> TaskSpec {
        let mut t = crate::registry::find("libsvm/file").unwrap();
        t.data = t.data.with_path(path.to_path_buf());
        t
    }

    #[test]
    fn the_identity_follows_content_not_place() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.svm"), dir.path().join("b.svm"));
        std::fs::write(&a, "0 1:1\n1 1:0\n").unwrap();
        std::fs::write(&b, "0 1:1\n1 1:0\n").unwrap();
        let ia = task(&a).data_identity().unwrap().unwrap();
        assert_eq!(Some(ia.clone()), task(&b).data_identity().unwrap());
        // The `.t` sibling is part of a LIBSVM file's data.
        std::fs::write(dir.path().join("a.svm.t"), "1 1:1\n").unwrap();
        assert_ne!(Some(ia), task(&a).data_identity().unwrap());
        let pinned = task(&a).pinned().unwrap();
        pinned.check_identity().unwrap();
        std::fs::write(&a, "1 1:1\n1 1:0\n").unwrap();
        let msg = pinned.check_identity().unwrap_err().to_string();
        assert!(
            msg.contains("not the data this task was defined with"),
            "{msg}"
        );
        let embedded = crate::registry::find("logreg/iris").unwrap();
        assert_eq!(embedded.data_identity().unwrap(), None);
    }
}
