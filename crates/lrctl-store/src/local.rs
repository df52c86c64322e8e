//! Facts about this machine and process: worker ids, whether a local worker is alive, and a
//! machine description for provenance.

/// This machine's host name (`localhost` when it cannot be found).
pub fn hostname() -> String {
    // /proc avoids a dependency on Linux; elsewhere the shell usually exports one of these.
    let from_proc = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    let name = from_proc
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    // ':' and '/' separate the parts of a worker id, so they cannot appear in the host part.
    let name: String = name
        .chars()
        .map(|c| if c == ':' || c == '/' { '_' } else { c })
        .collect();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

/// The worker id of this process: `host:pid`.
///
/// [`Store::requeue_dead_local`](crate::Store::requeue_dead_local) parses it back, so use this
/// (or [`worker_id_slot`]) rather than a home-made string.
pub fn worker_id() -> String {
    format!("{}:{}", hostname(), std::process::id())
}

/// The worker id of one of several job slots (threads) of this process: `host:pid/slot`.
pub fn worker_id_slot(slot: usize) -> String {
    format!("{}/{slot}", worker_id())
}

/// The pid in a worker id of the form `host:pid` or `host:pid/slot` whose host is `host`.
pub(crate) fn local_pid(worker: &str, host: &str) -> Option<u32> {
    let rest = worker.strip_prefix(host)?.strip_prefix(':')?;
    let pid = rest.split_once('/').map_or(rest, |(pid, _)| pid);
    pid.parse().ok()
}

/// Whether process `pid` is alive on this machine: `None` when that cannot be known (no /proc),
/// in which case callers must assume it is alive and wait for its lease to expire.
pub(crate) fn pid_alive(pid: u32) -> Option<bool> {
    if !std::path::Path::new("/proc/self/stat").exists() {
        return None;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // A zombie (killed, not yet reaped by its parent) is dead for our purpose.
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            Some(!matches!(state, Some('Z' | 'X' | 'x')))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
        Err(_) => Some(true),
    }
}

/// A one-line description of this machine for provenance, e.g.
/// `linux x86_64, 16 CPUs (AMD EPYC 7763), 125.8 GiB RAM, host node17`.
pub fn machine_description() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut s = format!(
        "{} {}, {cpus} CPUs",
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    if let Some(model) = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
    {
        s.push_str(&format!(" ({})", model.1.trim()));
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    if let Some(kib) = meminfo.lines().find_map(|l| {
        l.strip_prefix("MemTotal:")
            .and_then(|r| r.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
    }) {
        s.push_str(&format!(", {:.1} GiB RAM", kib / 1_048_576.0));
    }
    s.push_str(&format!(", host {}", hostname()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_ids_parse_back() {
        let id = worker_id();
        let host = hostname();
        assert_eq!(local_pid(&id, &host), Some(std::process::id()));
        assert_eq!(
            local_pid(&worker_id_slot(3), &host),
            Some(std::process::id())
        );
        assert_eq!(local_pid("node1:42/7", "node1"), Some(42));
        assert_eq!(
            local_pid("node10:42", "node1"),
            None,
            "host must match exactly"
        );
        assert_eq!(local_pid("node1:x", "node1"), None);
        assert_eq!(local_pid("node1", "node1"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn liveness_of_processes() {
        assert_eq!(pid_alive(std::process::id()), Some(true));
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        assert_eq!(pid_alive(pid), Some(true));
        child.kill().unwrap();
        // Killed but not reaped: a zombie, which counts as dead.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while pid_alive(pid) != Some(false) {
            assert!(
                std::time::Instant::now() < deadline,
                "killed child still looks alive"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.wait().unwrap();
        assert_eq!(pid_alive(pid), Some(false));
    }

    #[test]
    fn machine_description_names_the_host() {
        let d = machine_description();
        assert!(d.contains(std::env::consts::ARCH), "{d}");
        assert!(d.ends_with(&format!("host {}", hostname())), "{d}");
    }
}
