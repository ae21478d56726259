//! The real `dockgate serve` binary as a child process: the address it
//! serves on, its systemd notifications, its log, and the signals it is
//! sent. For what only the process shows (signal handling, exit status,
//! log lines); everything else is quicker with the in-process [`super::Gateway`].

use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// A spawned `dockgate serve`, killed when dropped.
pub struct Served {
    pub child: Child,
    /// Where it serves, once [`Served::ready`] saw it.
    pub addr: SocketAddr,
    pub config: PathBuf,
    notify: UnixDatagram,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// Spawns `dockgate serve --config DIR/dockgate.toml` with a notify
/// socket and its log in a file; `prepare` sets up the config path first
/// (write it, or make it a FIFO).
pub fn spawn(prepare: impl FnOnce(&Path)) -> Served {
    spawn_under(&[], prepare)
}

/// [`spawn`] with `dockgate` run by `wrapper` (its arguments, then
/// dockgate's): `unshare --user ...` to serve from a user namespace, say.
pub fn spawn_under(wrapper: &[&str], prepare: impl FnOnce(&Path)) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dockgate.toml");
    prepare(&config);
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let log = dir.path().join("dockgate.log");
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(env!("CARGO_BIN_EXE_dockgate"));
            command
        }
        None => Command::new(env!("CARGO_BIN_EXE_dockgate")),
    };
    let child = command
        .args(["serve", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify_path)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Served {
        child,
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        config,
        notify,
        log,
        _dir: dir,
    }
}

/// Writes `text` as the config and starts serving it.
pub fn serve(text: &str) -> Served {
    let mut served = spawn(|path| std::fs::write(path, text).unwrap());
    served.ready();
    served
}

/// `127.0.0.1:PORT` out of `... dockgate serving listen=Some(127.0.0.1:PORT) ...`,
/// or the JSON layout's `"listen":"Some(127.0.0.1:PORT)"`.
fn serving_addr(line: &str) -> Option<SocketAddr> {
    let rest = ["listen=Some(", "\"listen\":\"Some("]
        .iter()
        .find_map(|key| line.split(key).nth(1))?;
    rest[..rest.find(')')?].parse().ok()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn next_notification(notify: &UnixDatagram, child: &mut Child, log: &Path) -> String {
    let mut buf = [0u8; 256];
    match notify.recv(&mut buf) {
        Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Err(e) => panic!(
            "no notification from dockgate ({e}); exit: {:?}; log:\n{}",
            child.try_wait(),
            read(log)
        ),
    }
}

/// Sends `signal` to `pid`.
pub fn kill(pid: libc::pid_t, signal: libc::c_int) {
    // SAFETY: kill(2) only sends a signal; the pid is our own child.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal})");
}

/// What a reload ended in, from the log line that marks its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    Applied,
    Refused(String),
}

impl Served {
    /// Waits for READY=1 and the address in the "dockgate serving" line.
    pub fn ready(&mut self) {
        let first = next_notification(&self.notify, &mut self.child, &self.log);
        assert_eq!(first, "READY=1", "log:\n{}", self.log());
        let mut addr = None;
        super::eventually("the serving line is logged", || {
            addr = self.log().lines().find_map(serving_addr);
            addr.is_some()
        });
        self.addr = addr.unwrap();
    }

    /// Waits for the process to exit on its own (it must not need a signal).
    pub fn exit(&mut self) -> (ExitStatus, String) {
        let status = self.child.wait().unwrap();
        (status, self.log())
    }

    pub fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    pub fn log(&self) -> String {
        read(&self.log)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Sends SIGHUP and waits for the reload it starts to end: RELOADING=1
    /// then READY=1 on the notify socket, and its outcome in the log.
    pub fn reload(&mut self) -> Reloaded {
        let outcomes = |log: &str| {
            log.lines()
                .filter(|l| l.contains("configuration reloaded") || l.contains("reload failed"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let before = outcomes(&self.log()).len();
        kill(self.pid(), libc::SIGHUP);
        let reloading = next_notification(&self.notify, &mut self.child, &self.log);
        assert!(reloading.starts_with("RELOADING=1"), "{reloading}");
        let ready = next_notification(&self.notify, &mut self.child, &self.log);
        assert_eq!(ready, "READY=1");
        let mut line = String::new();
        super::eventually("the reload's outcome is logged", || {
            match outcomes(&self.log()).get(before) {
                Some(l) => {
                    line = l.clone();
                    true
                }
                None => false,
            }
        });
        if line.contains("configuration reloaded") {
            Reloaded::Applied
        } else {
            Reloaded::Refused(line)
        }
    }

    /// Every notification received so far without waiting for more.
    pub fn notifications(&self) -> Vec<String> {
        self.notify.set_nonblocking(true).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        while let Ok(n) = self.notify.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        self.notify.set_nonblocking(false).unwrap();
        out
    }

    /// SIGTERM, then the exit status and the whole log.
    pub fn stop(&mut self) -> (ExitStatus, String) {
        kill(self.pid(), libc::SIGTERM);
        let status = self.child.wait().unwrap();
        (status, read(&self.log))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
