//! Where log lines go: an in-memory batch that one writer thread drains to
//! the output (stderr: the journal under systemd).
//!
//! Every request ends in an audit line, so the path a line takes is on the
//! request path. Writing each line with its own `write(2)`, or waking a
//! writer thread for each one, cost more than the rest of a keep-alive
//! request through the gateway: on a two-core machine the wakeup competes
//! with the request for the CPU. Here a line is appended to the batch under
//! a mutex, and the writer thread is woken only when the batch goes from
//! empty to non-empty or grows past [`WAKE_AT`]. Once woken, it waits up to
//! [`GATHER_FOR`] for more lines before writing them all at once, so a busy
//! gateway writes a few times per second instead of once per request.
//!
//! Lines are never dropped: past [`BLOCK_AT`] pending bytes, writers wait
//! for the thread to catch up. Dropping the [`Flusher`] writes what is
//! pending and stops the thread; a line waits at most [`GATHER_FOR`] before
//! it is written.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the writer gathers lines after the first one arrives.
pub const GATHER_FOR: Duration = Duration::from_millis(50);
/// A batch this large is written without waiting out [`GATHER_FOR`].
pub const WAKE_AT: usize = 64 * 1024;
/// Writers block while this much is pending: the output cannot keep up.
pub const BLOCK_AT: usize = 8 * 1024 * 1024;

/// Appends whole lines to the batch. Cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Owns the writer thread; dropping it writes what is pending.
pub struct Flusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when lines arrive in an empty batch, when the batch grows
    /// past [`WAKE_AT`], and on close.
    work: Condvar,
    /// Signalled each time the writer takes the batch.
    drained: Condvar,
}

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    closing: bool,
}

impl LogWriter {
    /// Starts the writer thread over `out`.
    pub fn spawn(out: impl Write + Send + 'static) -> (LogWriter, Flusher) {
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            work: Condvar::new(),
            drained: Condvar::new(),
        });
        let thread = std::thread::Builder::new()
            .name("dockgate-log".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || drain(&shared, out)
            })
            .expect("cannot start the log writer thread");
        let flusher = Flusher {
            shared: Arc::clone(&shared),
            thread: Some(thread),
        };
        (LogWriter { shared }, flusher)
    }

    /// Appends `bytes` (one or more complete lines) to the batch.
    pub fn append(&self, bytes: &[u8]) {
        let mut state = self.shared.lock();
        while state.pending.len() >= BLOCK_AT && !state.closing {
            state = self
                .shared
                .drained
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        let before = state.pending.len();
        state.pending.extend_from_slice(bytes);
        let after = state.pending.len();
        drop(state);
        // Only transitions wake the thread: a notify is a system call.
        if before == 0 || (before < WAKE_AT && after >= WAKE_AT) {
            self.shared.work.notify_one();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the batch torn: every
        // update is a single extend or swap.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The writer thread: sleeps until lines arrive, gathers for a moment,
/// writes the batch, repeats; returns once closing and empty.
fn drain(shared: &Shared, mut out: impl Write) {
    let mut spare = Vec::new();
    loop {
        let mut batch = {
            let mut state = shared.lock();
            while state.pending.is_empty() && !state.closing {
                state = shared.work.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            if !state.closing && state.pending.len() < WAKE_AT {
                state = shared
                    .work
                    .wait_timeout_while(state, GATHER_FOR, |s| {
                        !s.closing && s.pending.len() < WAKE_AT
                    })
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            if state.pending.is_empty() && state.closing {
                return;
            }
            let batch = std::mem::replace(&mut state.pending, std::mem::take(&mut spare));
            shared.drained.notify_all();
            batch
        };
        // Nowhere left to report a failing stderr; keep draining so that
        // writers never block on it.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        batch.clear();
        spare = batch;
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.work.notify_one();
        self.shared.drained.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Write for &LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = &'a LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output that shares what was written with the test.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_from_every_thread_arrives_whole_and_in_each_threads_order() {
        let sink = Sink::default();
        let (writer, flusher) = LogWriter::spawn(sink.clone());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        writer.append(format!("thread {t} line {i}\n").as_bytes());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(flusher);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let mut next = [0usize; 4];
        for line in text.lines() {
            let (t, i) = line
                .strip_prefix("thread ")
                .and_then(|rest| rest.split_once(" line "))
                .unwrap_or_else(|| panic!("torn line {line:?}"));
            let t: usize = t.parse().unwrap();
            assert_eq!(
                i.parse::<usize>().unwrap(),
                next[t],
                "thread {t} out of order"
            );
            next[t] += 1;
        }
        assert_eq!(next, [20_000; 4]);
    }

    #[test]
    fn a_lone_line_is_written_without_closing() {
        let sink = Sink::default();
        let (writer, _flusher) = LogWriter::spawn(sink.clone());
        writer.append(b"alone\n");
        for _ in 0..200 {
            if sink.0.lock().unwrap().as_slice() == b"alone\n" {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the line was not written within 2 s");
    }

    #[test]
    fn writers_wait_rather_than_drop_when_the_output_is_slow() {
        /// Takes 1 ms per write call.
        struct Slow(Sink);
        impl Write for Slow {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                std::thread::sleep(Duration::from_millis(1));
                self.0.write(buf)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let (writer, flusher) = LogWriter::spawn(Slow(sink.clone()));
        let line = vec![b'x'; 1023];
        let total = 3 * BLOCK_AT / 1024;
        for _ in 0..total {
            writer.append(&line);
            writer.append(b"\n");
        }
        drop(flusher);
        assert_eq!(sink.0.lock().unwrap().len(), total * 1024);
    }
}
