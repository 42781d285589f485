//! `kiln serve` as a child process, shared by kiln-diff's `--http` mode and kiln-bench's http
//! row (kiln-bench includes this file with `#[path]`): started on a free loopback port, its
//! address read from the one line it prints on stderr once listening
//! (`Serving HTTP on http://IP:PORT/`), killed when dropped. The rest of its stderr is kept
//! (the last lines, for error reports).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// How many of the server's stderr lines are kept.
const KEPT_LINES: usize = 200;

/// A running `kiln serve`; dropping it kills it.
pub struct KilnServer {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl KilnServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The last lines it printed on stderr.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let start = log.len().saturating_sub(n);
        log[start..].join("\n")
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for KilnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The kiln binary: `explicit`, else the newest of `target/release/kiln` and
/// `target/debug/kiln` of the repository (or of `$KILN_TARGET_DIR`) that has a `serve`
/// command (else the newest).
pub fn find_kiln(explicit: Option<&Path>, repo: &Path) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(format!("--kiln {}: no such file", p.display()))
        };
    }
    let mut dirs = vec![repo.join("target")];
    if let Some(t) = std::env::var_os("KILN_TARGET_DIR") {
        dirs.insert(0, PathBuf::from(t));
    }
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for dir in dirs {
        for profile in ["release", "debug"] {
            let p = dir.join(profile).join("kiln");
            if let Ok(m) = std::fs::metadata(&p) {
                found.push((m.modified().unwrap_or(std::time::UNIX_EPOCH), p));
            }
        }
    }
    // Newest first; a binary with a `serve` command before one without.
    found.sort();
    found.reverse();
    let pick = found
        .iter()
        .find(|(_, p)| has_serve(p))
        .or(found.first())
        .map(|(_, p)| p.clone());
    pick.ok_or_else(|| {
        format!(
            "no kiln binary: build it (`cargo build --release -p kiln-cli`) or pass --kiln PATH \
             (looked in {}/target/{{release,debug}}/kiln and $KILN_TARGET_DIR)",
            repo.display()
        )
    })
}

/// Whether `kiln` has a `serve` command.
pub fn has_serve(kiln: &Path) -> bool {
    Command::new(kiln)
        .args(["serve", "--help"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts `kiln serve --addr 127.0.0.1:0 [extra] FILE` and waits (up to `timeout`: compiling
/// a `.wasm` first takes a while) for its listening line.
pub fn start(
    kiln: &Path,
    file: &Path,
    extra: &[&str],
    timeout: Duration,
) -> Result<KilnServer, String> {
    let mut child = Command::new(kiln)
        .arg("serve")
        .args(["--addr", "127.0.0.1:0"])
        .args(extra)
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", kiln.display()))?;
    let stderr = child.stderr.take().ok_or("no stderr pipe")?;
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    {
        let log = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line
                    .strip_prefix("Serving HTTP on http://")
                    .and_then(|r| r.trim_end().strip_suffix('/'))
                    .and_then(|a| a.parse::<SocketAddr>().ok())
                {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
                let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                if log.len() >= KEPT_LINES {
                    log.remove(0);
                }
                log.push(line);
            }
        });
    }
    let mut server = KilnServer {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        log,
    };
    match rx.recv_timeout(timeout) {
        Ok(addr) => {
            server.addr = addr;
            Ok(server)
        }
        Err(_) => {
            let status = server.child.try_wait().ok().flatten();
            Err(format!(
                "kiln serve did not print its listening line within {timeout:?}{}; its stderr:\n{}",
                status
                    .map(|s| format!(" (it exited: {s})"))
                    .unwrap_or_default(),
                server.log_tail(30)
            ))
        }
    }
}
