//! The policy host: a child process that runs a Python policy for the `policy` controller.
//!
//! # Protocol (version [`HOST_PROTOCOL`]), JSON lines over the child's stdin and stdout
//!
//! 1. lrctl starts `PROGRAM ARGS… POLICY` — by default `$LRCTL_PYTHON -m lrctl._policy_host
//!    POLICY` ([`PYTHON_ENV`]; `python3` when unset) — and writes a hello:
//!    `{"protocol": 1, "observation_version": 1, "observation_names": [...]}`.
//! 2. The host loads the policy and answers `{"ready": true}`, or `{"error": "TEXT"}` (the
//!    traceback) and exits.
//! 3. For each decision lrctl writes `{"step": S, "total_steps": T, "observation": [...]}` and
//!    the host answers `{"action": X}` — a number, or the strings `"nan"`, `"inf"`, `"-inf"`
//!    (JSON has no non-finite numbers) — or `{"error": "TEXT"}` when the policy raised.
//! 4. lrctl closes stdin when the run ends; the host exits. A host that outlives that is
//!    killed.
//!
//! What the host writes to stderr is kept (its last 16 KiB) for the failure message when it
//! dies; the Python host sends the policy's own prints there too, so stdout carries only the
//! protocol.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::policy::Policy;
use crate::observe::{OBSERVATION_NAMES, OBSERVATION_VERSION};

/// Version of the host protocol described in the module docs.
pub const HOST_PROTOCOL: u32 = 1;

/// The environment variable naming the Python interpreter that runs policy hosts.
pub const PYTHON_ENV: &str = "LRCTL_PYTHON";

/// How much of the host's stderr is kept for failure messages.
const STDERR_TAIL: usize = 16 * 1024;

/// A [`Policy`] answered by a policy host process, started at the first decision.
pub struct HostPolicy {
    policy: String,
    program: Option<OsString>,
    args: Vec<OsString>,
    process: Option<Process>,
}

struct Process {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl HostPolicy {
    /// The default host, `$LRCTL_PYTHON -m lrctl._policy_host POLICY` (the interpreter is read
    /// when the host starts).
    pub fn new(policy: String) -> HostPolicy {
        HostPolicy {
            policy,
            program: None,
            args: vec!["-m".into(), "lrctl._policy_host".into()],
            process: None,
        }
    }

    /// A host started as `program args… policy` (another interpreter or a stand-in for tests).
    pub fn with_command(program: OsString, args: Vec<OsString>, policy: String) -> HostPolicy {
        HostPolicy {
            policy,
            program: Some(program),
            args,
            process: None,
        }
    }

    fn program(&self) -> OsString {
        self.program.clone().unwrap_or_else(|| {
            std::env::var_os(PYTHON_ENV)
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "python3".into())
        })
    }

    fn command_line(&self, program: &OsString) -> String {
        std::iter::once(program)
            .chain(&self.args)
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn start(&mut self) -> Result<&mut Process, String> {
        if self.process.is_none() {
            let program = self.program();
            let mut child = Command::new(&program)
                .args(&self.args)
                .arg(&self.policy)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| {
                    format!(
                        "cannot start the policy host `{}`: {e}; set {PYTHON_ENV} to a Python \
                         interpreter that has the lrctl package installed",
                        self.command_line(&program)
                    )
                })?;
            let stderr = Arc::new(Mutex::new(Vec::new()));
            if let Some(mut err) = child.stderr.take() {
                let tail = Arc::clone(&stderr);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = err.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                        t.extend_from_slice(&buf[..n]);
                        if t.len() > STDERR_TAIL {
                            let cut = t.len() - STDERR_TAIL;
                            t.drain(..cut);
                        }
                    }
                });
            }
            let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                let _ = child.kill();
                let _ = child.wait();
                return Err("the policy host's pipes could not be opened".into());
            };
            let mut process = Process {
                child,
                stdin,
                stdout: BufReader::new(stdout),
                stderr,
            };
            let hello = json!({
                "protocol": HOST_PROTOCOL,
                "observation_version": OBSERVATION_VERSION,
                "observation_names": OBSERVATION_NAMES,
            });
            let reply = process
                .exchange(&hello)
                .map_err(|e| process.died(&self.policy, "loading it", e))?;
            if let Some(err) = reply.get("error") {
                let _ = process.child.kill();
                let _ = process.child.wait();
                return Err(format!(
                    "policy `{}` could not be loaded:\n{}",
                    self.policy,
                    text(err)
                ));
            }
            if reply.get("ready") != Some(&Value::Bool(true)) {
                let _ = process.child.kill();
                let _ = process.child.wait();
                return Err(format!(
                    "the policy host for `{}` answered {reply} instead of {{\"ready\": true}}",
                    self.policy
                ));
            }
            self.process = Some(process);
        }
        Ok(self.process.as_mut().expect("started above"))
    }
}

impl Process {
    /// Writes one line and reads one back (`Err` with what went wrong on the pipe).
    fn exchange(&mut self, message: &Value) -> Result<Value, String> {
        let mut line = message.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("writing to it failed ({e})"))?;
        let mut reply = String::new();
        match self.stdout.read_line(&mut reply) {
            Ok(0) => Err("it exited".into()),
            Ok(_) => serde_json::from_str(&reply).map_err(|e| {
                format!(
                    "it answered `{}`, which is not a JSON line ({e})",
                    reply.trim_end()
                )
            }),
            Err(e) => Err(format!("reading from it failed ({e})")),
        }
    }

    /// The failure message of a host that stopped answering while `doing`, with its exit
    /// status and the end of its stderr.
    fn died(&mut self, policy: &str, doing: &str, what: String) -> String {
        // A host that still runs but talks nonsense is stopped; one that exited is reaped.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let status = self
            .child
            .wait()
            .map(|s| s.to_string())
            .unwrap_or_else(|e| e.to_string());
        // Let the stderr reader drain what the child wrote before it exited.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let tail = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        let stderr = String::from_utf8_lossy(&tail);
        let stderr = stderr.trim_end();
        format!(
            "the policy host for `{policy}` failed while {doing}: {what} ({status}){}",
            if stderr.is_empty() {
                String::new()
            } else {
                format!("; its stderr:\n{stderr}")
            }
        )
    }
}

/// A JSON value as text (strings without their quotes).
fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// A JSON number, or one of the strings the protocol uses for non-finite numbers.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "nan" | "NaN" => Some(f64::NAN),
            "inf" | "Infinity" => Some(f64::INFINITY),
            "-inf" | "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

impl Policy for HostPolicy {
    fn act(&mut self, step: u64, total_steps: u64, observation: &[f64]) -> Result<f64, String> {
        let policy = self.policy.clone();
        let process = self.start()?;
        let request = json!({
            "step": step,
            "total_steps": total_steps,
            "observation": observation,
        });
        let doing = format!("deciding step {step}");
        let reply = process
            .exchange(&request)
            .map_err(|e| process.died(&policy, &doing, e))?;
        if let Some(err) = reply.get("error") {
            return Err(format!(
                "policy `{policy}` raised at step {step}:\n{}",
                text(err)
            ));
        }
        reply.get("action").and_then(number).ok_or_else(|| {
            format!("the policy host for `{policy}` answered {reply} instead of {{\"action\": X}}")
        })
    }
}

impl Drop for HostPolicy {
    fn drop(&mut self) {
        if let Some(mut p) = self.process.take() {
            // Closing stdin ends a well-behaved host; kill whatever is left without waiting.
            drop(p.stdin);
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host written in sh: `script` reads the hello and the requests from stdin.
    fn sh(script: &str) -> HostPolicy {
        HostPolicy::with_command(
            "sh".into(),
            vec!["-c".into(), script.into(), "host".into()],
            "mod:fn".into(),
        )
    }

    #[test]
    fn answers_are_read_line_by_line_including_non_finite_ones() {
        let mut h = sh(r#"read hello
case "$hello" in *'"observation_version":1'*) ;; *) exit 9 ;; esac
[ "$1" = "mod:fn" ] || exit 8
echo '{"ready": true}'
read a; echo '{"action": 0.25}'
read a; echo '{"action": "nan"}'
read a; echo '{"action": "-inf"}'
read a; case "$a" in *'"observation":[0.5,1.0],"step":3'*) echo '{"action": 2}' ;; *) echo "{\"error\": \"bad request\"}" ;; esac
"#);
        assert_eq!(h.act(0, 10, &[0.0, 0.0]).unwrap(), 0.25);
        assert!(h.act(1, 10, &[0.0, 0.0]).unwrap().is_nan());
        assert_eq!(h.act(2, 10, &[0.0, 0.0]).unwrap(), f64::NEG_INFINITY);
        assert_eq!(h.act(3, 10, &[0.5, 1.0]).unwrap(), 2.0);
        // The host has ended: the next decision fails with the exit status.
        let e = h.act(4, 10, &[0.0]).unwrap_err();
        assert!(
            e.contains("deciding step 4") && e.contains("exit status: 0"),
            "{e}"
        );
    }

    #[test]
    fn a_raising_policy_gives_its_traceback() {
        let mut h = sh(r#"read hello; echo '{"ready": true}'
read a; printf '%s\n' '{"error": "Traceback (most recent call last):\n  File \"p.py\"\nZeroDivisionError: boom"}'
"#);
        let e = h.act(0, 10, &[0.0]).unwrap_err();
        assert!(
            e.contains("policy `mod:fn` raised at step 0") && e.contains("ZeroDivisionError: boom"),
            "{e}"
        );
    }

    #[test]
    fn load_failures_dead_hosts_and_nonsense_are_explained() {
        let e = sh(r#"read hello; echo '{"error": "ModuleNotFoundError: No module named mod"}'"#)
            .act(0, 1, &[])
            .unwrap_err();
        assert!(
            e.contains("could not be loaded") && e.contains("No module named"),
            "{e}"
        );
        let e = sh("read hello; echo 'no module lrctl' >&2; exit 3")
            .act(0, 1, &[])
            .unwrap_err();
        assert!(
            e.contains("exit status: 3") && e.contains("no module lrctl") && e.contains("loading"),
            "{e}"
        );
        let e = sh("read hello; echo '{\"ready\": true}'; read a; echo hello world; sleep 30")
            .act(0, 1, &[])
            .unwrap_err();
        assert!(
            e.contains("not a JSON line") && e.contains("hello world"),
            "{e}"
        );
        let e = sh("read hello; echo '{\"ready\": true}'; read a; echo '{\"lr\": 1}'")
            .act(0, 1, &[])
            .unwrap_err();
        assert!(e.contains("instead of {\"action\": X}"), "{e}");
        let e = HostPolicy::with_command("/no/such/python".into(), vec![], "m:f".into())
            .act(0, 1, &[])
            .unwrap_err();
        assert!(
            e.contains("cannot start the policy host `/no/such/python`") && e.contains(PYTHON_ENV),
            "{e}"
        );
    }

    #[test]
    fn dropping_the_policy_ends_the_host() {
        let dir = std::env::temp_dir().join(format!("lrctl-host-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("pid");
        let mut h = sh(&format!(
            "echo $$ > {}; read hello; echo '{{\"ready\": true}}'; while read a; do echo '{{\"action\": 1}}'; done; sleep 30",
            pidfile.display()
        ));
        h.act(0, 1, &[]).unwrap();
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        drop(h);
        // Reaped by the drop: the process no longer exists.
        assert!(
            !std::path::Path::new(&format!("/proc/{}", pid.trim())).exists(),
            "host {pid} still running"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
