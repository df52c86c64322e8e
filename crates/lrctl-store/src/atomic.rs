//! Output files that are either the old version or the whole new one, never a truncated mix.
//!
//! [`AtomicFile`] writes into a temporary file in the destination's directory (so the final
//! rename never crosses file systems), syncs it, and renames it over the destination only on
//! [`AtomicFile::commit`]. Killed, interrupted or failed before that, the destination keeps its
//! old content and the temporary file is removed (on drop; after `kill -9`, a `.NAME.*.tmp`
//! file may stay behind next to it, never in its place).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// A file being written in place of `path`; see the [module documentation](self).
pub struct AtomicFile {
    path: PathBuf,
    temp: BufWriter<tempfile::NamedTempFile>,
}

/// An I/O error that names the file it is about.
fn named(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

impl AtomicFile {
    /// Starts writing a new version of `path` (which need not exist; its directory must).
    pub fn create(path: impl AsRef<Path>) -> io::Result<AtomicFile> {
        let path = path.as_ref().to_path_buf();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{}: not a file name", path.display()),
                )
            })?
            .to_string_lossy()
            .into_owned();
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| named(&path, "cannot create a temporary file for", e))?;
        Ok(AtomicFile {
            path,
            temp: BufWriter::new(temp),
        })
    }

    /// The file this will replace.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs and renames the new content over the destination.
    pub fn commit(self) -> io::Result<()> {
        let path = self.path;
        let temp = self
            .temp
            .into_inner()
            .map_err(|e| named(&path, "cannot write", e.into_error()))?;
        // The temporary file is private (0600); the result gets the old file's permissions, or
        // those of a newly created file.
        let permissions = match std::fs::metadata(&path) {
            Ok(m) => m.permissions(),
            Err(_) => default_permissions(),
        };
        let file: &File = temp.as_file();
        file.set_permissions(permissions)
            .and_then(|()| file.sync_all())
            .map_err(|e| named(&path, "cannot write", e))?;
        temp.persist(&path)
            .map_err(|e| named(&path, "cannot replace", e.error))?;
        Ok(())
    }
}

#[cfg(unix)]
fn default_permissions() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    // What `File::create` gives under the usual umask 022.
    std::fs::Permissions::from_mode(0o644)
}

#[cfg(not(unix))]
fn default_permissions() -> std::fs::Permissions {
    std::env::temp_dir()
        .metadata()
        .map(|m| m.permissions())
        .unwrap_or_else(|_| unreachable!("the temporary directory exists"))
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

/// Writes `path` atomically: `fill` writes the content, and only if it succeeds does the new
/// file replace the old one. Errors from `fill` come back unchanged; I/O errors of the file
/// itself name it.
pub fn write_with<E: From<io::Error>>(
    path: impl AsRef<Path>,
    fill: impl FnOnce(&mut dyn Write) -> Result<(), E>,
) -> Result<(), E> {
    let mut file = AtomicFile::create(path)?;
    fill(&mut file)?;
    file.commit()?;
    Ok(())
}

/// Writes `bytes` to `path` atomically.
pub fn write(path: impl AsRef<Path>, bytes: impl AsRef<[u8]>) -> io::Result<()> {
    write_with(path, |w| w.write_all(bytes.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cells.csv");
        write(&path, "old content\n").unwrap();
        let r: io::Result<()> = write_with(&path, |w| {
            w.write_all(b"half of the new")?;
            Err(io::Error::other("killed"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old content\n");
        assert_eq!(entries(dir.path()), ["cells.csv"], "temporary file removed");
        write(&path, "new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(entries(dir.path()), ["cells.csv"]);
    }

    #[test]
    fn an_uncommitted_file_never_appears() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.md");
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(&vec![b'x'; 1 << 20]).unwrap();
        assert!(!path.exists(), "visible only after commit");
        drop(f);
        assert!(!path.exists());
        assert!(entries(dir.path()).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn permissions_are_those_of_a_normal_file_or_the_old_one() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write(&path, "{}").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o644);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        write(&path, "{}").unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn a_missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope/out.csv");
        let e = write(&path, "x").unwrap_err().to_string();
        assert!(e.contains("nope/out.csv"), "{e}");
    }
}
