//! A ustar archive writer, just enough for `pki bundle`: regular files and
//! folders with short names, owned by uid/gid 0 and dated the epoch, laid
//! out header for header as the docker CLI's own `docker context export`
//! writes them (Go's `archive/tar`). Readers take the modes from the
//! headers, so a key's 0600 travels with it.
//!
//! No `tar` crate: the format needed here is one 512-byte header per entry,
//! the contents padded to 512 bytes, and two zero blocks at the end.

/// The unit a tar archive is made of.
const BLOCK: usize = 512;
/// Longest name the header's `name` field holds (it leaves room for a NUL).
const MAX_NAME: usize = 99;
/// Largest size an 11-digit octal field holds.
const MAX_SIZE: u64 = 0o77_777_777_777;

/// The type of an entry, the header's `typeflag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    /// A regular file, `'0'`.
    File,
    /// A folder, `'5'`.
    Dir,
}

/// An archive being built in memory; [`Ustar::finish`] returns its bytes.
#[derive(Debug, Default)]
pub struct Ustar {
    /// The archive so far, always a whole number of blocks.
    bytes: Vec<u8>,
}

impl Ustar {
    /// An empty archive.
    pub fn new() -> Ustar {
        Ustar::default()
    }

    /// Adds a folder entry. Readers create folders as they need them; the
    /// entry gives a folder that `tar x` makes its mode.
    pub fn dir(&mut self, name: &str, mode: u32) {
        self.header(name, mode, 0, Type::Dir);
    }

    /// Adds a regular file with `contents` and `mode`.
    pub fn file(&mut self, name: &str, mode: u32, contents: &[u8]) {
        self.header(name, mode, contents.len() as u64, Type::File);
        self.bytes.extend_from_slice(contents);
        self.pad();
    }

    /// The archive with its end marker, two zero blocks.
    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.resize(self.bytes.len() + 2 * BLOCK, 0);
        self.bytes
    }

    /// Appends one header block.
    ///
    /// # Panics
    ///
    /// If `name` needs more than the `name` field (over 99 bytes) or
    /// `size` more than 11 octal digits: the callers' names are constants
    /// and their contents PEM files, so either is a bug, not bad input.
    fn header(&mut self, name: &str, mode: u32, size: u64, kind: Type) {
        assert!(
            !name.is_empty() && name.len() <= MAX_NAME,
            "tar name {name:?} does not fit a ustar header"
        );
        assert!(size <= MAX_SIZE, "tar entry {name:?} is too large");
        let mut h = [0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        octal(&mut h[100..108], u64::from(mode & 0o7777));
        octal(&mut h[108..116], 0); // uid
        octal(&mut h[116..124], 0); // gid
        octal(&mut h[124..136], size);
        octal(&mut h[136..148], 0); // mtime
        h[156] = match kind {
            Type::File => b'0',
            Type::Dir => b'5',
        };
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        octal(&mut h[329..337], 0); // devmajor
        octal(&mut h[337..345], 0); // devminor
                                    // The checksum is the sum of the header's bytes with its own field
                                    // read as spaces, written as six digits, a NUL and a space.
        h[148..156].fill(b' ');
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        octal(&mut h[148..155], sum);
        self.bytes.extend_from_slice(&h);
    }

    /// Zero-fills the last block.
    fn pad(&mut self) {
        let rest = self.bytes.len() % BLOCK;
        if rest != 0 {
            self.bytes.resize(self.bytes.len() + BLOCK - rest, 0);
        }
    }
}

/// Writes `value` into `field` as zero-padded octal digits and a final NUL.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    debug_assert_eq!(text.len(), digits, "{value} does not fit {digits} digits");
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field of header block `h` at `range`, up to its first NUL.
    fn field(h: &[u8], range: std::ops::Range<usize>) -> &str {
        let f = &h[range];
        let end = f.iter().position(|&b| b == 0).unwrap_or(f.len());
        std::str::from_utf8(&f[..end]).unwrap()
    }

    #[test]
    fn headers_match_docker_context_export() {
        // The checksums, sizes and modes below are those of the first two
        // headers of an archive written by `docker context export` (docker
        // CLI 28): meta.json of 129 bytes, then the folder `tls`.
        let mut tar = Ustar::new();
        tar.file("meta.json", 0o644, &[b'x'; 129]);
        tar.dir("tls", 0o700);
        let bytes = tar.finish();
        let (meta, tls) = (&bytes[..BLOCK], &bytes[2 * BLOCK..3 * BLOCK]);
        assert_eq!(field(meta, 0..100), "meta.json");
        assert_eq!(&meta[100..108], b"0000644\0");
        assert_eq!(&meta[124..136], b"00000000201\0");
        assert_eq!(&meta[136..148], b"00000000000\0");
        assert_eq!(&meta[148..156], b"011017\0 ");
        assert_eq!(meta[156], b'0');
        assert_eq!(&meta[257..263], b"ustar\0");
        assert_eq!(&meta[263..265], b"00");
        assert_eq!(field(tls, 0..100), "tls");
        assert_eq!(&tls[100..108], b"0000700\0");
        assert_eq!(&tls[148..156], b"007716\0 ");
        assert_eq!(tls[156], b'5');
    }

    #[test]
    fn contents_are_padded_and_the_archive_ends_with_two_zero_blocks() {
        let mut tar = Ustar::new();
        tar.file("a", 0o600, b"hello");
        tar.file("b", 0o600, &[7; BLOCK]);
        let bytes = tar.finish();
        // header a, one block of contents, header b, one block, end marker.
        assert_eq!(bytes.len(), 6 * BLOCK);
        assert_eq!(&bytes[BLOCK..BLOCK + 5], b"hello");
        assert!(bytes[BLOCK + 5..2 * BLOCK].iter().all(|&b| b == 0));
        assert_eq!(field(&bytes[2 * BLOCK..], 0..100), "b");
        assert!(bytes[3 * BLOCK..4 * BLOCK].iter().all(|&b| b == 7));
        assert!(bytes[4 * BLOCK..].iter().all(|&b| b == 0));
    }

    #[test]
    fn modes_keep_only_permission_bits() {
        let mut tar = Ustar::new();
        tar.file("key.pem", 0o100600, b"k");
        assert_eq!(&tar.finish()[100..108], b"0000600\0");
    }

    #[test]
    #[should_panic(expected = "does not fit a ustar header")]
    fn a_long_name_is_a_bug() {
        Ustar::new().dir(&"x".repeat(100), 0o700);
    }
}
