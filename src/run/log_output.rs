//! The file descriptor log lines are written to: stderr, which under
//! systemd is a stream socket to journald.
//!
//! Whoever reads it may stop reading (journald stalled, a pipe nobody
//! drains) or refuse it (a full disk, a closed pipe). Only the log writer
//! thread ever waits on it, and it waits in `poll(2)` with a timeout, so it
//! can give up at exit. A socket is written with `MSG_DONTWAIT`, which never
//! blocks and changes nothing shared with other processes; so is a
//! descriptor already in non-blocking mode. A blocking pipe or file is
//! written as it is: setting `O_NONBLOCK` would change the open file
//! description that a terminal's shell or a parent shares with us.
//!
//! A write may take only part of what it is given; the caller keeps the
//! rest and writes it next, so a line is never split around another. A
//! pipe is written whole lines at a time, at most `PIPE_BUF` bytes a call:
//! the kernel writes that much atomically or not at all, so a pipe that
//! stops draining (and a process that exits meanwhile) never holds a torn
//! line. Longer lines cannot have that guarantee.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Where log lines go.
pub struct Output {
    fd: OwnedFd,
    /// Sent with `MSG_DONTWAIT`: a stalled journald never blocks the call.
    socket: bool,
    /// Written whole lines at a time, at most `PIPE_BUF` bytes a call.
    pipe: bool,
    /// Whether the last byte written ended a line, so that a notice written
    /// at exit over an unfinished line starts on a line of its own.
    at_line_start: bool,
}

/// What one write call did.
#[derive(Debug)]
pub enum Wrote {
    /// This many bytes (at least one) went out.
    Some(usize),
    /// The reader has not made room; wait for [`wait_writable`].
    Full,
    /// The output refused the bytes (`EPIPE`, `ENOSPC`, ...).
    Failed(io::Error),
}

impl Output {
    /// A duplicate of the process's stderr. Writing through the duplicate,
    /// not `std::io::stderr()`, means no lock is shared with anything that
    /// prints: a thread waiting on the output holds nothing others need.
    pub fn stderr() -> io::Result<Output> {
        Ok(Output::new(io::stderr().as_fd().try_clone_to_owned()?))
    }

    pub fn new(fd: OwnedFd) -> Output {
        let kind = stat(fd.as_raw_fd()).map_or(0, |st| st.st_mode & libc::S_IFMT);
        Output {
            fd,
            socket: kind == libc::S_IFSOCK,
            pipe: kind == libc::S_IFIFO,
            at_line_start: true,
        }
    }

    /// Whether this is the journal stream systemd connected stderr to:
    /// `JOURNAL_STREAM` names its device and inode (see systemd.exec(5)).
    pub fn is_journal(&self) -> bool {
        std::env::var("JOURNAL_STREAM").is_ok_and(|stream| self.is_stream(&stream))
    }

    /// Whether `stream` (`device:inode`) names this output.
    fn is_stream(&self, stream: &str) -> bool {
        let Some((dev, ino)) = stream.split_once(':') else {
            return false;
        };
        let Some(st) = stat(self.raw_fd()) else {
            return false;
        };
        dev.parse() == Ok(st.st_dev) && ino.parse() == Ok(st.st_ino)
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn at_line_start(&self) -> bool {
        self.at_line_start
    }

    /// One write call with as much of `bytes` as the output takes.
    pub fn write_some(&mut self, bytes: &[u8]) -> Wrote {
        if bytes.is_empty() {
            return Wrote::Some(0);
        }
        let bytes = if self.pipe { whole_lines(bytes) } else { bytes };
        loop {
            // SAFETY: the descriptor is open for as long as `self.fd` lives;
            // the pointer and length describe `bytes`.
            let n = unsafe {
                if self.socket {
                    libc::send(
                        self.raw_fd(),
                        bytes.as_ptr().cast(),
                        bytes.len(),
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    )
                } else {
                    libc::write(self.raw_fd(), bytes.as_ptr().cast(), bytes.len())
                }
            };
            if n > 0 {
                let n = n as usize;
                self.at_line_start = bytes[n - 1] == b'\n';
                return Wrote::Some(n);
            }
            if n == 0 {
                // A write of a non-empty buffer that took nothing: treat it
                // like a full output rather than spin on it.
                return Wrote::Full;
            }
            let error = io::Error::last_os_error();
            match error.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Wrote::Full,
                _ => return Wrote::Failed(error),
            }
        }
    }
}

/// The longest run of whole lines at the start of `bytes` that fits in
/// `PIPE_BUF`; a first line longer than that, whole.
fn whole_lines(bytes: &[u8]) -> &[u8] {
    if bytes.len() <= libc::PIPE_BUF {
        return bytes;
    }
    let end = match bytes[..libc::PIPE_BUF].iter().rposition(|&b| b == b'\n') {
        Some(last) => last + 1,
        None => bytes[libc::PIPE_BUF..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| libc::PIPE_BUF + i + 1),
    };
    &bytes[..end]
}

fn stat(fd: RawFd) -> Option<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills `st` when it returns 0.
    (unsafe { libc::fstat(fd, st.as_mut_ptr()) } == 0).then(|| unsafe { st.assume_init() })
}

/// Waits up to `timeout` until `fd` can take bytes (or reports an error,
/// which the next write then returns). Takes the bare descriptor so the
/// writer can wait without holding the lock that guards writing.
pub fn wait_writable(fd: RawFd, timeout: Duration) -> bool {
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    let millis = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd; `fd` stays open while its Output lives.
    let ready = unsafe { libc::poll(&mut poll, 1, millis) };
    ready > 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::FromRawFd;

    /// A pipe whose write end is non-blocking and holds one page.
    fn small_pipe() -> (std::fs::File, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two descriptors that we then own.
        unsafe {
            assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
            libc::fcntl(fds[1], libc::F_SETPIPE_SZ, 4096);
            libc::fcntl(fds[1], libc::F_SETFL, libc::O_NONBLOCK);
            (
                std::fs::File::from_raw_fd(fds[0]),
                OwnedFd::from_raw_fd(fds[1]),
            )
        }
    }

    #[test]
    fn a_full_pipe_takes_part_then_nothing_and_never_blocks() {
        let (mut read, write) = small_pipe();
        let mut out = Output::new(write);
        assert!(!out.socket);
        let big = vec![b'x'; 10_000];
        let Wrote::Some(first) = out.write_some(&big) else {
            panic!("an empty pipe takes something")
        };
        assert!(first < big.len(), "a one-page pipe took {first} bytes");
        assert!(matches!(out.write_some(&big[first..]), Wrote::Full));
        assert!(!wait_writable(out.raw_fd(), Duration::ZERO));
        let mut buf = vec![0; first];
        read.read_exact(&mut buf).unwrap();
        assert!(wait_writable(out.raw_fd(), Duration::ZERO));
    }

    #[test]
    fn a_pipe_that_stops_draining_holds_only_whole_lines() {
        let (mut read, write) = small_pipe();
        let mut out = Output::new(write);
        assert!(out.pipe);
        let lines: Vec<u8> = (0..1000)
            .flat_map(|i| format!("line {i:04} {}\n", "z".repeat(90)).into_bytes())
            .collect();
        let mut at = 0;
        while let Wrote::Some(n) = out.write_some(&lines[at..]) {
            at += n;
        }
        assert!(at < lines.len());
        drop(out);
        let mut held = Vec::new();
        let _ = read.read_to_end(&mut held);
        assert_eq!(held.len(), at);
        assert!(held.ends_with(b"\n"), "a torn line in the pipe");
    }

    #[test]
    fn a_closed_pipe_is_a_failure_not_a_signal() {
        let (read, write) = small_pipe();
        drop(read);
        let mut out = Output::new(write);
        match out.write_some(b"line\n") {
            Wrote::Failed(e) => assert_eq!(e.raw_os_error(), Some(libc::EPIPE)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_journal_stream_is_known_by_its_device_and_inode() {
        let (mine, _theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let (other, _) = std::os::unix::net::UnixStream::pair().unwrap();
        let out = Output::new(mine.into());
        let st = stat(out.raw_fd()).unwrap();
        assert!(out.is_stream(&format!("{}:{}", st.st_dev, st.st_ino)));
        let st = stat(std::os::fd::AsRawFd::as_raw_fd(&other)).unwrap();
        assert!(!out.is_stream(&format!("{}:{}", st.st_dev, st.st_ino)));
        assert!(!out.is_stream("garbage"));
    }

    #[test]
    fn a_socket_is_written_without_blocking() {
        let (mine, _theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut out = Output::new(mine.into());
        assert!(out.socket);
        let chunk = vec![b'x'; 1 << 16];
        // The socket's buffer is finite; once full a send returns at once.
        let full = (0..1000).any(|_| matches!(out.write_some(&chunk), Wrote::Full));
        assert!(full, "never reported full");
    }
}
