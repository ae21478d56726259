//! Reading a configuration's files so that one still being written is
//! noticed instead of loaded.
//!
//! An editor, a script or `scp` may be halfway through the config or a
//! certificate when a reload reads it, and half a config can be a valid
//! one (fewer clients, no CRL). So every file one load reads goes through
//! one [`Reads`]; when the load is over, each of those files is read again
//! after a short pause, and the load's outcome (success or error) counts
//! only if every file read the same both times. Otherwise the whole load
//! runs again, up to [`ATTEMPTS`] times, and then gives up with an error
//! naming the file that kept changing. A writer that stops for longer than
//! the pause (half written, then the rest much later) is not noticed here;
//! the checks on what a reload may drop catch that one.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a file must stay the same to count as written.
pub const SETTLE_PAUSE: Duration = Duration::from_millis(50);
/// How many times a load is tried while its files keep changing.
pub const ATTEMPTS: usize = 10;

/// What one read of a file gave: its bytes, or how reading it failed.
type Content = Result<Vec<u8>, io::ErrorKind>;

/// Every file one load read, with what it read.
#[derive(Debug, Default)]
pub struct Reads {
    seen: RefCell<Vec<(PathBuf, Content)>>,
}

impl Reads {
    /// Reads a whole file and remembers what it held.
    pub fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let result = std::fs::read(path);
        let kept = match &result {
            Ok(bytes) => Ok(bytes.clone()),
            Err(e) => Err(e.kind()),
        };
        self.seen.borrow_mut().push((path.to_owned(), kept));
        result
    }

    /// The first file that no longer reads as it did, if any.
    fn changed(&self) -> Option<PathBuf> {
        self.seen.borrow().iter().find_map(|(path, then)| {
            let now = std::fs::read(path).map_err(|e| e.kind());
            (now != *then).then(|| path.clone())
        })
    }
}

/// A file changed between two reads on every attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: changed while being read, {attempts} times in a row; is it still being written?", path.display())]
pub struct Unsettled {
    pub path: PathBuf,
    pub attempts: usize,
}

/// Runs `load` until the files it read read the same again after
/// [`SETTLE_PAUSE`], and returns its outcome from that run.
pub fn settled<T>(load: impl FnMut(&Reads) -> T) -> Result<T, Unsettled> {
    settled_with(ATTEMPTS, || std::thread::sleep(SETTLE_PAUSE), load)
}

/// [`settled`] with the attempts and the pause given; tests pass a pause
/// that writes the file, in place of a writer racing the reader.
pub fn settled_with<T>(
    attempts: usize,
    mut pause: impl FnMut(),
    mut load: impl FnMut(&Reads) -> T,
) -> Result<T, Unsettled> {
    let mut last = PathBuf::new();
    for _ in 0..attempts {
        let reads = Reads::default();
        let outcome = load(&reads);
        pause();
        match reads.changed() {
            None => return Ok(outcome),
            Some(path) => last = path,
        }
    }
    Err(Unsettled {
        path: last,
        attempts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(reads: &Reads, a: &Path, b: &Path) -> (Vec<u8>, Vec<u8>) {
        (reads.read(a).unwrap(), reads.read(b).unwrap())
    }

    #[test]
    fn files_that_read_the_same_twice_are_loaded_once() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "one").unwrap();
        std::fs::write(&b, "two").unwrap();
        let mut runs = 0;
        let out = settled_with(
            3,
            || {},
            |r| {
                runs += 1;
                load(r, &a, &b)
            },
        );
        assert_eq!(out, Ok((b"one".to_vec(), b"two".to_vec())));
        assert_eq!(runs, 1);
    }

    #[test]
    fn a_file_written_during_the_load_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "half").unwrap();
        std::fs::write(&b, "two").unwrap();
        let mut writes = vec!["half and the rest"].into_iter();
        let out = settled_with(
            3,
            || {
                if let Some(text) = writes.next() {
                    std::fs::write(&a, text).unwrap();
                }
            },
            |r| load(r, &a, &b),
        );
        assert_eq!(
            out,
            Ok((b"half and the rest".to_vec(), b"two".to_vec())),
            "the outcome comes from the run whose files settled"
        );
    }

    #[test]
    fn a_file_that_keeps_changing_is_given_up_on_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "one").unwrap();
        std::fs::write(&b, "").unwrap();
        let mut n = 0;
        let out = settled_with(
            4,
            || {
                n += 1;
                std::fs::write(&b, n.to_string()).unwrap();
            },
            |r| load(r, &a, &b),
        );
        assert_eq!(
            out,
            Err(Unsettled {
                path: b.clone(),
                attempts: 4
            })
        );
        assert_eq!(n, 4);
    }

    #[test]
    fn a_file_that_appears_or_vanishes_counts_as_changed() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let mut created = false;
        let out = settled_with(
            2,
            || {
                if !created {
                    std::fs::write(&a, "now here").unwrap();
                    created = true;
                }
            },
            |r| r.read(&a).map_err(|e| e.kind()),
        );
        assert_eq!(out, Ok(Ok(b"now here".to_vec())));
    }
}
