//! Where log lines go: a bounded in-memory queue that one writer thread
//! drains to the [`Output`] (stderr: the journal under systemd).
//!
//! Every request ends in an audit line, so the path a line takes is on the
//! request path. Writing each line with its own `write(2)`, or waking a
//! writer thread for each one, cost more than the rest of a keep-alive
//! request through the gateway: on a two-core machine the wakeup competes
//! with the request for the CPU. Here a line is appended to the queue under
//! a mutex, and the writer thread is woken only when the queue goes from
//! empty to non-empty or grows past [`WAKE_AT`]. Once woken, it waits up to
//! [`GATHER_FOR`] for more lines before writing them all at once, so a busy
//! gateway writes a few times per second instead of once per request.
//!
//! The log never stops the gateway: appending never waits. When the output
//! stops draining, the queue fills to its capacity and further lines are
//! dropped and counted (`dockgate_log_lines_dropped_total`); once the
//! output takes lines again, the writer first writes one line saying how
//! many were lost. Lines already queued are never given up: a short write
//! is continued from where it stopped and a failed one (`EPIPE`, `ENOSPC`)
//! is counted and retried, so no line is torn or split around another.
//! The exception is a *reserved* line (an audit line the gateway promised
//! to write before it forwarded the request), which is queued even past
//! the capacity; see [`LogWriter::has_room`].
//!
//! At exit, [`Flusher::close`] waits a bounded time for the queue to drain,
//! then gives up, says how many lines were not written when the output can
//! still take that one line, and lets the process end.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use tracing::Level;

use crate::run::log_output::{self, Output, Wrote};

/// How long the writer gathers lines after the first one arrives.
pub const GATHER_FOR: Duration = Duration::from_millis(50);
/// A batch this large is written without waiting out [`GATHER_FOR`].
pub const WAKE_AT: usize = 64 * 1024;
/// How long the writer waits for room before looking whether it should
/// give up; also the pause before retrying a failed write.
const RETRY_AFTER: Duration = Duration::from_millis(100);
/// How long [`Flusher`]'s drop waits for the queue to drain at exit.
pub const EXIT_FLUSH: Duration = Duration::from_secs(2);

/// How the writer is set up.
/// The writer's counters: lines dropped on a full queue, writes the output
/// refused. Metrics exports them; the writer increments them.
#[derive(Clone, Default)]
pub struct LogCounters {
    pub dropped: Counter,
    pub write_errors: Counter,
}

pub struct Options {
    /// Queued bytes (not yet written, the batch being written included)
    /// past which best-effort lines are dropped.
    pub capacity: usize,
    /// Prefix each line with its syslog priority (`<6>` for info), which
    /// journald reads off a stream (sd-daemon(3)).
    pub priority_prefix: bool,
    /// Renders the line that says `lost` lines were not written (newline
    /// included, no priority prefix); `at_exit` when the process gave up.
    pub report: Box<dyn Fn(u64, bool) -> Vec<u8> + Send + Sync>,
    /// Lines dropped because the queue was full.
    pub dropped: Counter,
    /// Write calls the output refused; each is retried.
    pub write_errors: Counter,
}

/// Appends whole lines to the queue. Cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Owns the writer thread; dropping it drains the queue within
/// [`EXIT_FLUSH`].
pub struct Flusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// The output has taken nothing for a while although lines wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    /// Since the output last took a byte (or since the batch was taken).
    pub idle: Duration,
    /// Bytes waiting, the batch being written included.
    pub queued_bytes: usize,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when lines arrive in an empty queue, when the queue grows
    /// past `wake_at`, and on close.
    work: Condvar,
    /// Signalled when the writer thread has written everything and returned.
    done: Condvar,
    capacity: usize,
    wake_at: usize,
    priority_prefix: bool,
    report: Box<dyn Fn(u64, bool) -> Vec<u8> + Send + Sync>,
    dropped: Counter,
    write_errors: Counter,
    /// Dropped lines the log has not yet said were lost.
    unreported: AtomicU64,
    /// Lines of the batch being written that are not yet written whole.
    lines_in_flight: AtomicU64,
    /// Milliseconds since `epoch` (plus one) of the writer's last progress
    /// while it holds a batch; zero when it holds none.
    busy_since: AtomicU64,
    epoch: Instant,
    /// Set when the process gave up on the output at exit: the writer
    /// stops before its next write, so nothing follows the exit notice.
    abandoned: AtomicBool,
    /// Held across each write call, so that the exit notice is written only
    /// between two of the writer's writes, never inside one.
    output: Mutex<Output>,
    /// The output's descriptor, to wait on without holding `output`.
    fd: std::os::fd::RawFd,
}

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    /// Bytes the writer took and has not finished writing: they count
    /// against the capacity until written.
    in_flight: usize,
    closing: bool,
    /// Set by the writer thread when it has written everything and returns.
    finished: bool,
}

impl LogWriter {
    /// Starts the writer thread over `out`.
    pub fn spawn(out: Output, options: Options) -> (LogWriter, Flusher) {
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            work: Condvar::new(),
            done: Condvar::new(),
            capacity: options.capacity,
            wake_at: WAKE_AT.min(options.capacity / 2),
            priority_prefix: options.priority_prefix,
            report: options.report,
            dropped: options.dropped,
            write_errors: options.write_errors,
            unreported: AtomicU64::new(0),
            lines_in_flight: AtomicU64::new(0),
            busy_since: AtomicU64::new(0),
            epoch: Instant::now(),
            abandoned: AtomicBool::new(false),
            fd: out.raw_fd(),
            output: Mutex::new(out),
        });
        let thread = std::thread::Builder::new()
            .name("dockgate-log".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || drain(&shared)
            })
            .expect("cannot start the log writer thread");
        let flusher = Flusher {
            shared: Arc::clone(&shared),
            thread: Some(thread),
        };
        (LogWriter { shared }, flusher)
    }

    /// Queues `bytes` (one event: one or more complete lines) unless the
    /// queue is full; a dropped event is counted. Never waits for the
    /// output.
    pub fn append(&self, level: Level, bytes: &[u8]) -> bool {
        self.push(level, bytes, false)
    }

    /// Queues `bytes` even past the capacity: for a line the gateway
    /// promised to write when [`LogWriter::has_room`] said there was room.
    /// Each such promise is one line per request in flight, so the excess
    /// is bounded by the connection limits.
    pub fn append_reserved(&self, level: Level, bytes: &[u8]) {
        self.push(level, bytes, true);
    }

    /// Whether the queue can take more lines now.
    pub fn has_room(&self) -> bool {
        let state = self.shared.lock();
        state.pending.len() + state.in_flight < self.shared.capacity
    }

    /// How long the output has taken nothing while lines wait, once that is
    /// at least `after`.
    pub fn stall(&self, after: Duration) -> Option<Stall> {
        let since = self.shared.busy_since.load(Ordering::Relaxed);
        if since == 0 {
            return None;
        }
        let idle = Duration::from_millis(self.shared.now_millis().saturating_sub(since));
        if idle < after {
            return None;
        }
        let state = self.shared.lock();
        Some(Stall {
            idle,
            queued_bytes: state.pending.len() + state.in_flight,
        })
    }

    fn push(&self, level: Level, bytes: &[u8], reserved: bool) -> bool {
        let shared = &*self.shared;
        let prefix = if shared.priority_prefix {
            priority(level)
        } else {
            &[]
        };
        let mut state = shared.lock();
        let queued = state.pending.len() + state.in_flight;
        if !reserved && queued + prefix.len() + bytes.len() > shared.capacity {
            drop(state);
            shared.dropped.inc();
            shared.unreported.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let before = state.pending.len();
        if prefix.is_empty() {
            state.pending.extend_from_slice(bytes);
        } else {
            // journald takes each line's priority from its own prefix.
            for line in bytes.split_inclusive(|&b| b == b'\n') {
                state.pending.extend_from_slice(prefix);
                state.pending.extend_from_slice(line);
            }
        }
        let after = state.pending.len();
        drop(state);
        // Only transitions wake the thread: a notify is a system call.
        if before == 0 || (before < shared.wake_at && after >= shared.wake_at) {
            shared.work.notify_one();
        }
        true
    }
}

/// The syslog priority prefix journald reads (sd-daemon(3)).
fn priority(level: Level) -> &'static [u8] {
    match level {
        Level::ERROR => b"<3>",
        Level::WARN => b"<4>",
        Level::INFO => b"<6>",
        Level::DEBUG | Level::TRACE => b"<7>",
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the queue torn: every
        // update is a single extend or swap.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_millis(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// The "lines lost" line, with its priority prefix.
    fn report_line(&self, lost: u64, at_exit: bool) -> Vec<u8> {
        let mut line = Vec::new();
        if self.priority_prefix {
            line.extend_from_slice(priority(Level::WARN));
        }
        line.extend_from_slice(&(self.report)(lost, at_exit));
        line
    }
}

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// The writer thread: sleeps until lines arrive, gathers for a moment,
/// writes the batch, repeats; returns once closing and empty.
fn drain(shared: &Shared) {
    let mut spare = Vec::new();
    loop {
        let (mut batch, lost) = {
            let mut state = shared.lock();
            let idle = |s: &State| {
                s.pending.is_empty() && !s.closing && shared.unreported.load(Ordering::Relaxed) == 0
            };
            while idle(&state) {
                state = shared.work.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            if !state.closing && !state.pending.is_empty() && state.pending.len() < shared.wake_at {
                state = shared
                    .work
                    .wait_timeout_while(state, GATHER_FOR, |s| {
                        !s.closing && s.pending.len() < shared.wake_at
                    })
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            let lost = shared.unreported.load(Ordering::Relaxed);
            if state.pending.is_empty() && lost == 0 && state.closing {
                state.finished = true;
                shared.done.notify_all();
                return;
            }
            let batch = std::mem::replace(&mut state.pending, std::mem::take(&mut spare));
            state.in_flight = batch.len();
            shared
                .lines_in_flight
                .store(count_lines(&batch), Ordering::Relaxed);
            shared
                .busy_since
                .store(shared.now_millis(), Ordering::Relaxed);
            (batch, lost)
        };
        if lost > 0 {
            // The output took the last batch whole: say what was lost
            // before what comes after it. Until the line is out, the lost
            // lines stay counted as unreported.
            if !write_all(shared, &shared.report_line(lost, false), false) {
                return;
            }
            shared.unreported.fetch_sub(lost, Ordering::Relaxed);
        }
        if !write_all(shared, &batch, true) {
            return;
        }
        shared.busy_since.store(0, Ordering::Relaxed);
        shared.lock().in_flight = 0;
        batch.clear();
        spare = batch;
    }
}

/// Writes `bytes` whole, continuing short writes and retrying refused ones,
/// until done (`true`) or abandoned at exit (`false`). `batch`: the lines
/// are the batch's, counted in `lines_in_flight`.
fn write_all(shared: &Shared, mut bytes: &[u8], batch: bool) -> bool {
    while !bytes.is_empty() {
        let wrote = {
            let mut out = shared.output.lock().unwrap_or_else(|e| e.into_inner());
            if shared.abandoned.load(Ordering::Relaxed) {
                return false;
            }
            out.write_some(bytes)
        };
        match wrote {
            Wrote::Some(n) => {
                if batch {
                    shared
                        .lines_in_flight
                        .fetch_sub(count_lines(&bytes[..n]), Ordering::Relaxed);
                }
                shared
                    .busy_since
                    .store(shared.now_millis(), Ordering::Relaxed);
                bytes = &bytes[n..];
            }
            Wrote::Full => {
                log_output::wait_writable(shared.fd, RETRY_AFTER);
            }
            Wrote::Failed(_) => {
                // Nowhere to say why: the failure is the log itself. The
                // counter says it; the bytes stay and are tried again.
                shared.write_errors.inc();
                std::thread::sleep(RETRY_AFTER);
            }
        }
    }
    true
}

impl Flusher {
    /// Stops the writer once it has written what is queued, waiting at most
    /// `within`. Returns how many lines were not written (queued ones,
    /// and dropped ones not yet reported); when there are some, a line
    /// saying so is written if the output can take it right away.
    pub fn close(&mut self, within: Duration) -> u64 {
        let Some(thread) = self.thread.take() else {
            return 0;
        };
        let shared = &*self.shared;
        let mut state = shared.lock();
        state.closing = true;
        shared.work.notify_one();
        state = shared
            .done
            .wait_timeout_while(state, within, |s| !s.finished)
            .unwrap_or_else(|e| e.into_inner())
            .0;
        if state.finished {
            drop(state);
            let _ = thread.join();
            return 0;
        }
        drop(state);
        // The writer is waiting on the output. Stop it between two writes
        // if we can; if it is inside a write, the output is not taking
        // anything and the notice could not be written either. Holding the
        // output, nothing moves while the lines are counted.
        let out = shared.output.try_lock();
        shared.abandoned.store(true, Ordering::Relaxed);
        let lost = {
            let state = shared.lock();
            count_lines(&state.pending)
                + shared.lines_in_flight.load(Ordering::Relaxed)
                + shared.unreported.load(Ordering::Relaxed)
        };
        if let Ok(mut out) = out {
            if lost > 0 && log_output::wait_writable(shared.fd, Duration::ZERO) {
                let mut notice = Vec::new();
                if !out.at_line_start() {
                    notice.push(b'\n');
                }
                notice.extend_from_slice(&shared.report_line(lost, true));
                // One attempt: exit does not wait on the log.
                let _ = out.write_some(&notice);
            }
        }
        lost
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.close(EXIT_FLUSH);
    }
}

/// tracing's formatter writes each event with one `write_all` through this.
pub struct EventWriter<'a> {
    writer: &'a LogWriter,
    level: Level,
}

impl std::io::Write for EventWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // A dropped event is counted by the writer; the formatter has
        // nothing better to do with an error.
        self.writer.append(self.level, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = EventWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter {
            writer: self,
            level: Level::INFO,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        EventWriter {
            writer: self,
            level: *meta.level(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read};
    use std::os::fd::{FromRawFd, OwnedFd};

    /// A pipe holding one page; the write end non-blocking when asked.
    fn pipe(nonblocking: bool) -> (std::fs::File, Output) {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two descriptors that we then own.
        unsafe {
            assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
            libc::fcntl(fds[1], libc::F_SETPIPE_SZ, 4096);
            if nonblocking {
                // The write end only: the reader reads as usual.
                libc::fcntl(fds[1], libc::F_SETFL, libc::O_NONBLOCK);
            }
            (
                std::fs::File::from_raw_fd(fds[0]),
                Output::new(OwnedFd::from_raw_fd(fds[1])),
            )
        }
    }

    fn options(capacity: usize) -> (Options, Counter, Counter) {
        let dropped = Counter::default();
        let write_errors = Counter::default();
        let options = Options {
            capacity,
            priority_prefix: false,
            report: Box::new(|lost, at_exit| format!("lost {lost} exit {at_exit}\n").into_bytes()),
            dropped: dropped.clone(),
            write_errors: write_errors.clone(),
        };
        (options, dropped, write_errors)
    }

    /// Parses `thread T line I` lines, checking each is whole and each
    /// thread's lines come in order; returns how many of each thread.
    fn check_lines(text: &str, threads: usize) -> Vec<usize> {
        let mut next = vec![0usize; threads];
        for line in text.lines() {
            if line.starts_with("lost ") {
                continue;
            }
            let (t, i) = line
                .strip_prefix("thread ")
                .and_then(|rest| rest.split_once(" line "))
                .unwrap_or_else(|| panic!("torn line {line:?}"));
            let t: usize = t.parse().unwrap();
            assert_eq!(i.parse::<usize>().unwrap(), next[t], "thread {t} order");
            next[t] += 1;
        }
        next
    }

    #[test]
    fn every_line_from_every_thread_arrives_whole_and_in_each_threads_order() {
        let (mut read, out) = pipe(false);
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            read.read_to_string(&mut text).unwrap();
            text
        });
        let (options, dropped, _) = options(64 << 20);
        let (writer, mut flusher) = LogWriter::spawn(out, options);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        assert!(
                            writer.append(Level::INFO, format!("thread {t} line {i}\n").as_bytes())
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(flusher.close(Duration::from_secs(60)), 0);
        drop((writer, flusher));
        let text = reader.join().unwrap();
        assert_eq!(check_lines(&text, 4), [20_000; 4]);
        assert_eq!(dropped.get(), 0);
    }

    #[test]
    fn short_writes_to_a_nonblocking_pipe_read_late_lose_and_tear_nothing() {
        let (read, out) = pipe(true);
        let (options, dropped, write_errors) = options(64 << 20);
        let (writer, mut flusher) = LogWriter::spawn(out, options);
        // Lines longer than the pipe, so no write can take one whole.
        let pad = "x".repeat(5000);
        for i in 0..200 {
            writer.append(Level::INFO, format!("thread 0 line {i} {pad}\n").as_bytes());
        }
        // Nobody reads until every line is queued and the pipe is full.
        std::thread::sleep(GATHER_FOR * 4);
        let reader = std::thread::spawn(move || {
            BufReader::new(read)
                .lines()
                .map(|l| l.unwrap())
                .collect::<Vec<_>>()
        });
        assert_eq!(flusher.close(Duration::from_secs(60)), 0);
        drop((writer, flusher));
        let lines = reader.join().unwrap();
        assert_eq!(lines.len(), 200);
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(*line, format!("thread 0 line {i} {pad}"));
        }
        assert_eq!((dropped.get(), write_errors.get()), (0, 0));
    }

    #[test]
    fn a_stalled_output_never_blocks_appends_and_drops_are_counted_then_reported() {
        let (read, out) = pipe(false);
        let (options, dropped, _) = options(16 * 1024);
        let (writer, mut flusher) = LogWriter::spawn(out, options);
        // Several times what the pipe, a batch being written and the queue
        // can hold together, so lines are dropped however the flusher is
        // scheduled.
        let total = 10_000;
        let mut queued = 0;
        for _ in 0..total {
            // No reader: with a blocking pipe this would hang if appending
            // ever waited for the output.
            if writer.append(Level::INFO, format!("thread 0 line {queued}\n").as_bytes()) {
                queued += 1;
            }
        }
        assert!(dropped.get() > 0, "nothing dropped");
        assert_eq!(dropped.get() + queued, total);
        assert!(!writer.has_room() || dropped.get() > 0);
        let lines = std::thread::spawn(move || {
            BufReader::new(read)
                .lines()
                .map(|l| l.unwrap())
                .collect::<Vec<_>>()
        });
        assert_eq!(flusher.close(Duration::from_secs(60)), 0);
        drop((writer, flusher));
        let lines = lines.join().unwrap();
        let text = lines.join("\n");
        assert_eq!(check_lines(&text, 1), [queued as usize]);
        // Drops are reported as the flusher meets them, so lines dropped
        // while it was still writing an earlier batch may be reported in a
        // line of their own; every drop is reported once.
        let reported: Vec<u64> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("lost "))
            .map(|rest| {
                let count = rest.strip_suffix(" exit false").expect(rest);
                count.parse().unwrap()
            })
            .collect();
        assert!(!reported.is_empty(), "no drop was reported");
        assert_eq!(reported.iter().sum::<u64>(), dropped.get());
    }

    #[test]
    fn reserved_lines_are_queued_past_the_capacity() {
        let (_read, out) = pipe(false);
        let (options, dropped, _) = options(8 * 1024);
        let (writer, mut flusher) = LogWriter::spawn(out, options);
        let line = [b'x'; 1023];
        while writer.has_room() {
            writer.append_reserved(Level::INFO, &line);
            writer.append_reserved(Level::INFO, b"\n");
        }
        let dropped_before = dropped.get();
        writer.append_reserved(Level::INFO, b"promised\n");
        assert_eq!(dropped.get(), dropped_before);
        assert!(!writer.append(Level::INFO, b"best effort\n"));
        assert_eq!(dropped.get(), dropped_before + 1);
        flusher.close(Duration::from_millis(100));
    }

    #[test]
    fn closing_over_a_stalled_output_gives_up_and_accounts_for_every_line() {
        let (read, out) = pipe(true);
        let (options, dropped, _) = options(64 * 1024);
        let (writer, mut flusher) = LogWriter::spawn(out, options);
        let mut queued = 0u64;
        for i in 0..1_000 {
            if writer.append(
                Level::INFO,
                format!("thread 0 line {i} {}\n", "y".repeat(100)).as_bytes(),
            ) {
                queued += 1;
            }
        }
        // Wait until the writer holds a batch the pipe cannot take.
        let mut stall = None;
        for _ in 0..400 {
            stall = writer.stall(Duration::from_millis(200));
            if stall.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let stall = stall.expect("the stall is reported");
        assert!(stall.queued_bytes > 0);
        let unwritten = flusher.close(Duration::from_millis(200));
        assert!(unwritten > 0);
        drop(writer);
        let mut text = Vec::new();
        let mut read = read;
        // The write end stays open in the abandoned thread: read what is there.
        // SAFETY: the descriptor is ours.
        unsafe {
            let fd = std::os::fd::AsRawFd::as_raw_fd(&read);
            let flags = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        let _ = read.read_to_end(&mut text);
        let text = String::from_utf8(text).unwrap();
        let whole = text
            .lines()
            .filter(|l| l.ends_with(&"y".repeat(100)))
            .count() as u64;
        let reported: u64 = text
            .lines()
            .filter_map(|l| {
                l.strip_prefix("lost ")?
                    .strip_suffix(" exit false")?
                    .parse::<u64>()
                    .ok()
            })
            .sum();
        // Every line was written whole, reported lost, or is counted as not
        // written at exit (a line cut by the stall counts as not written).
        assert_eq!(
            whole + reported + unwritten,
            queued + dropped.get(),
            "{text}"
        );
    }
}
