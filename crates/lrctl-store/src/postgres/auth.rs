//! Where the password of a PostgreSQL connection comes from: the URL, `PGPASSWORD`, or a
//! password file in libpq's `.pgpass` format. Never from a command-line flag of its own, and
//! never printed: messages name the store through [`redact`](crate::redact).

use std::path::{Path, PathBuf};

use postgres::config::Host;

/// Fills in the user and password that the URL left out, the way libpq does: user from
/// `PGUSER`, then `USER`; password from `PGPASSWORD`, then the password file (`PGPASSFILE`, or
/// `~/.pgpass`). A password file readable by group or others is ignored, as libpq does,
/// because it would leak the secret to other users of a shared cluster: its path is returned
/// so that the caller can say so.
pub(crate) fn complete(config: &mut postgres::Config) -> Option<PathBuf> {
    if config.get_user().is_none()
        && let Some(user) = env("PGUSER").or_else(|| env("USER"))
    {
        config.user(&user);
    }
    if config.get_password().is_some() {
        return None;
    }
    if let Some(pw) = env("PGPASSWORD") {
        config.password(pw);
        return None;
    }
    let file = env("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| dirs_home().map(|h| h.join(".pgpass")))?;
    let text = match read_private(&file) {
        Ok(text) => text,
        Err(Refused::TooOpen) => return Some(file),
        Err(Refused::Unreadable) => return None,
    };
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        _ => "localhost".to_string(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let user = config.get_user().unwrap_or_default().to_string();
    let db = config.get_dbname().unwrap_or(&user).to_string();
    if let Some(pw) = lookup(&text, [&host, &port, &db, &user]) {
        config.password(pw);
    }
    None
}

/// Why a password file was not read.
enum Refused {
    /// Missing or unreadable: as if there were none.
    Unreadable,
    /// Group or others may read it.
    TooOpen,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn dirs_home() -> Option<PathBuf> {
    env("HOME").map(PathBuf::from)
}

/// The password file's text, unless it is missing or too open.
fn read_private(file: &Path) -> Result<String, Refused> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file)
            .map_err(|_| Refused::Unreadable)?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(Refused::TooOpen);
        }
    }
    std::fs::read_to_string(file).map_err(|_| Refused::Unreadable)
}

/// The password of the first line of a `.pgpass` text matching `host:port:database:user`
/// (`*` matches anything; `\:` and `\\` escape).
pub(crate) fn lookup(text: &str, want: [&str; 4]) -> Option<String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .find_map(|line| {
            let fields = split_fields(line);
            if fields.len() != 5 {
                return None;
            }
            let matches = fields[..4]
                .iter()
                .zip(want)
                .all(|(f, w)| f == "*" || f == w);
            matches.then(|| fields[4].clone())
        })
}

fn split_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().expect("non-empty").push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("non-empty").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpass_lines_match_like_libpq() {
        let text = "# comment\n\
                    db.example:5432:lrctl:alice:s3cr\\:et\n\
                    *:*:*:bob:bobs\n\
                    db.example:5433:*:alice:other\n";
        assert_eq!(
            lookup(text, ["db.example", "5432", "lrctl", "alice"]).as_deref(),
            Some("s3cr:et")
        );
        assert_eq!(
            lookup(text, ["db.example", "5433", "x", "alice"]).as_deref(),
            Some("other")
        );
        assert_eq!(
            lookup(text, ["h", "1", "d", "bob"]).as_deref(),
            Some("bobs")
        );
        assert_eq!(lookup(text, ["h", "1", "d", "carol"]), None);
    }
}
