//! A minimal HTTP/1.1 file server on 127.0.0.1 for the download tests: `GET` with an optional
//! `Range: bytes=N-`, one request per connection, files served from a directory under their
//! relative path. It can misbehave on purpose ([`Mode`]) and records every request it gets.
//! Shared with lrctl-cli's tests (included by path).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Correct answers: `200`, `206` for a range, `416` past the end.
    Normal,
    /// Like `Normal`, but one byte in the middle of every file is flipped.
    Corrupt,
    /// The first answer announces the whole file and closes the connection after half of it;
    /// later answers are `Normal`.
    DropFirst,
    /// Ignores `Range` and always sends the whole file with `200`.
    IgnoreRange,
}

/// A request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The request path, without the leading `/`.
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The status answered.
    pub status: u16,
}

/// A running server; stops when dropped.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serves the files under `root` on a free port of 127.0.0.1.
    pub fn start(root: PathBuf, mode: Mode) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let mut answered = 0usize;
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                // A request is recorded before its answer is written: a client that has read
                // the whole answer always finds its request in `seen`.
                let record = |seen: Seen| seen2.lock().unwrap().push(seen);
                if serve(conn, &root, mode, answered, &record).is_some() {
                    answered += 1;
                }
            }
        });
        Server {
            addr,
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Every request answered so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The byte flipped in [`Mode::Corrupt`] for a file of `len` bytes.
pub fn corrupt_at(len: usize) -> usize {
    len / 2
}

fn serve(
    conn: TcpStream,
    root: &std::path::Path,
    mode: Mode,
    answered: usize,
    record: &dyn Fn(Seen),
) -> Option<()> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?, parts.next()?);
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':')
            && name.trim().eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_string());
        }
    }
    let path = target.trim_start_matches('/').to_string();
    let mut conn = conn;
    let file = (method == "GET" && !path.contains(".."))
        .then(|| std::fs::read(root.join(&path)).ok())
        .flatten();
    let Some(mut body) = file else {
        record(Seen {
            path,
            range,
            status: 404,
        });
        let _ = conn
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return Some(());
    };
    if mode == Mode::Corrupt {
        let at = corrupt_at(body.len());
        body[at] ^= 0x01;
    }
    let len = body.len();
    let from = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|_| mode != Mode::IgnoreRange);
    let status = match from {
        Some(f) if f >= len => 416,
        Some(_) => 206,
        None => 200,
    };
    record(Seen {
        path,
        range,
        status,
    });
    match from {
        Some(f) if f >= len => {
            let head = format!(
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = conn.write_all(head.as_bytes());
        }
        Some(f) => {
            let head = format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {f}-{}/{len}\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                len - 1,
                len - f
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body[f..]);
        }
        None => {
            let head =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
            let _ = conn.write_all(head.as_bytes());
            if mode == Mode::DropFirst && answered == 0 {
                let _ = conn.write_all(&body[..len / 2]);
                let _ = conn.flush();
                let _ = conn.shutdown(Shutdown::Both);
                return Some(());
            }
            let _ = conn.write_all(&body);
        }
    }
    let _ = conn.flush();
    let _ = conn.shutdown(Shutdown::Write);
    Some(())
}
