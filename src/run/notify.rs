//! systemd's service notification protocol (`sd_notify`) and socket
//! activation (`LISTEN_FDS`), spoken directly: a datagram to the socket in
//! `$NOTIFY_SOCKET`, and file descriptor 3 when `$LISTEN_PID` is us.
//! Outside systemd both are silently absent.

use std::io;
use std::os::unix::net::UnixDatagram;

/// Sends one state string (`READY=1`, `STOPPING=1`, ...) to systemd, if it
/// is listening. Failures are logged, never fatal: the service works the
/// same without a supervisor.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let result = (|| -> io::Result<()> {
        let socket = UnixDatagram::unbound()?;
        let bytes = path.as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(state.as_bytes(), &addr)?;
        } else {
            socket.send_to(state.as_bytes(), &path)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        tracing::warn!(error = %e, state, "cannot notify systemd");
    }
}

/// `RELOADING=1` with the CLOCK_MONOTONIC timestamp systemd asks for.
pub fn reloading() {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass it.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let usec = ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000;
    notify(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"));
}

/// The listening socket systemd passed us, if this process was socket-activated.
pub fn inherited_listener() -> io::Result<Option<std::net::TcpListener>> {
    let pid_matches = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let fds: usize = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if !pid_matches || fds == 0 {
        return Ok(None);
    }
    if fds > 1 {
        return Err(io::Error::other(format!(
            "systemd passed {fds} sockets; dockgate.socket must define exactly one"
        )));
    }
    // SAFETY: systemd hands over fd 3 (SD_LISTEN_FDS_START) for our exclusive
    // use when LISTEN_PID names this process; nothing else in the process
    // opened or owns it.
    let listener = unsafe { <std::net::TcpListener as std::os::fd::FromRawFd>::from_raw_fd(3) };
    listener.set_nonblocking(true)?;
    Ok(Some(listener))
}
