//! The streaming workloads' client: the request head written by hand, the
//! body written and the response read in large slices on the calling task.
//!
//! hyper's client runs its connection in a task of its own and hands the
//! response body over one read buffer's worth at a time. For a 1 GiB body
//! that cost the load generator more CPU per MiB than the proxies it was
//! measuring, on the same two cores, so the targets' MiB/s said more about
//! the load generator than about them. This client keeps the measuring
//! side's share small: one read or write per 256 KiB, TLS included.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::Stream;

/// Bytes per read and per body write.
pub const SLICE: usize = 256 * 1024;
/// The largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// A response, read to its end: status, body length and the body's first
/// bytes (the upload answer is a number).
pub struct Answer {
    pub status: u16,
    pub body_bytes: u64,
    pub prefix: Vec<u8>,
}

/// Sends `head` (a complete request head) and `body_bytes` of body, then
/// reads the whole response.
pub async fn exchange(stream: &mut Stream, head: &str, body_bytes: u64) -> io::Result<Answer> {
    stream.write_all(head.as_bytes()).await?;
    let slice = vec![b'x'; SLICE];
    let mut left = body_bytes;
    while left > 0 {
        let n = left.min(SLICE as u64) as usize;
        stream.write_all(&slice[..n]).await?;
        left -= n as u64;
    }
    stream.flush().await?;
    read_response(stream).await
}

async fn read_response(stream: &mut Stream) -> io::Result<Answer> {
    let mut buf = vec![0u8; SLICE];
    let mut filled = 0;
    let (status, framing, head_len) = loop {
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err(broken("connection closed inside the response head"));
        }
        filled += n;
        if let Some(end) = find(&buf[..filled], b"\r\n\r\n") {
            let (status, framing) = parse_head(&buf[..end])?;
            break (status, framing, end + 4);
        }
        if filled >= MAX_HEAD {
            return Err(broken("response head over 64 KiB"));
        }
    };
    let mut body = Body::new(framing);
    let mut prefix = Vec::new();
    let mut keep = |data: &[u8]| {
        if prefix.len() < 64 {
            prefix.extend_from_slice(&data[..data.len().min(64 - prefix.len())]);
        }
    };
    let mut chunk = &buf[head_len..filled];
    loop {
        body.feed(chunk, &mut keep)?;
        if body.done() {
            break;
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            if body.framing == Framing::UntilClose {
                break;
            }
            return Err(broken("connection closed inside the response body"));
        }
        chunk = &buf[..n];
    }
    Ok(Answer {
        status,
        body_bytes: body.data,
        prefix,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

fn parse_head(head: &[u8]) -> io::Result<(u16, Framing)> {
    let text = std::str::from_utf8(head).map_err(|_| broken("response head is not text"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| broken("malformed status line"))?;
    let mut framing = Framing::UntilClose;
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| broken("malformed header line"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            framing = Framing::Chunked;
        } else if name.eq_ignore_ascii_case("content-length") && framing != Framing::Chunked {
            framing = Framing::Length(value.parse().map_err(|_| broken("bad Content-Length"))?);
        }
    }
    if status == 204 || status == 304 {
        framing = Framing::Length(0);
    }
    Ok((status, framing))
}

/// Where a chunked body's decoder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line; `size` so far, `digits` seen, and whether
    /// an extension (`;...`) is being skipped.
    Size {
        size: u64,
        digits: u8,
        ext: bool,
    },
    /// The LF that ends the size line of a chunk of this size.
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    /// After the last chunk: trailer lines, `empty` while the current line
    /// has no bytes yet.
    Trailer {
        empty: bool,
    },
    TrailerLf {
        empty: bool,
    },
    Done,
}

/// Counts a body's data bytes as they arrive, in any split.
struct Body {
    framing: Framing,
    chunk: Chunk,
    data: u64,
}

impl Body {
    fn new(framing: Framing) -> Body {
        Body {
            framing,
            chunk: Chunk::Size {
                size: 0,
                digits: 0,
                ext: false,
            },
            data: 0,
        }
    }

    fn done(&self) -> bool {
        match self.framing {
            Framing::Length(n) => self.data >= n,
            Framing::Chunked => self.chunk == Chunk::Done,
            Framing::UntilClose => false,
        }
    }

    fn feed(&mut self, mut bytes: &[u8], keep: &mut impl FnMut(&[u8])) -> io::Result<()> {
        match self.framing {
            Framing::Length(n) => {
                let take = (n - self.data).min(bytes.len() as u64) as usize;
                keep(&bytes[..take]);
                self.data += take as u64;
                if take < bytes.len() {
                    return Err(broken("bytes after the response body"));
                }
                return Ok(());
            }
            Framing::UntilClose => {
                keep(bytes);
                self.data += bytes.len() as u64;
                return Ok(());
            }
            Framing::Chunked => {}
        }
        while let Some((&b, rest)) = bytes.split_first() {
            self.chunk = match self.chunk {
                Chunk::Size { size, digits, ext } => match b {
                    b'\r' if digits > 0 => Chunk::SizeLf(size),
                    _ if ext => Chunk::Size { size, digits, ext },
                    b';' if digits > 0 => Chunk::Size {
                        size,
                        digits,
                        ext: true,
                    },
                    _ => {
                        let digit = (b as char)
                            .to_digit(16)
                            .ok_or_else(|| broken("bad chunk size"))?;
                        if digits >= 15 {
                            return Err(broken("chunk size too large"));
                        }
                        Chunk::Size {
                            size: size * 16 + u64::from(digit),
                            digits: digits + 1,
                            ext,
                        }
                    }
                },
                Chunk::SizeLf(0) if b == b'\n' => Chunk::Trailer { empty: true },
                Chunk::SizeLf(size) if b == b'\n' => Chunk::Data(size),
                Chunk::SizeLf(_) => return Err(broken("chunk size line without LF")),
                Chunk::Data(left) => {
                    let take = left.min(bytes.len() as u64) as usize;
                    keep(&bytes[..take]);
                    self.data += take as u64;
                    bytes = &bytes[take..];
                    self.chunk = if left == take as u64 {
                        Chunk::DataCr
                    } else {
                        Chunk::Data(left - take as u64)
                    };
                    continue;
                }
                Chunk::DataCr if b == b'\r' => Chunk::DataLf,
                Chunk::DataLf if b == b'\n' => Chunk::Size {
                    size: 0,
                    digits: 0,
                    ext: false,
                },
                Chunk::DataCr | Chunk::DataLf => return Err(broken("chunk without CRLF")),
                Chunk::Trailer { empty } if b == b'\r' => Chunk::TrailerLf { empty },
                Chunk::Trailer { .. } => Chunk::Trailer { empty: false },
                Chunk::TrailerLf { empty: true } if b == b'\n' => Chunk::Done,
                Chunk::TrailerLf { empty: false } if b == b'\n' => Chunk::Trailer { empty: true },
                Chunk::TrailerLf { .. } => return Err(broken("trailer line without LF")),
                Chunk::Done => return Err(broken("bytes after the response body")),
            };
            bytes = rest;
        }
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn broken(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(framing: Framing, wire: &[u8], split: usize) -> io::Result<(u64, bool, Vec<u8>)> {
        let mut body = Body::new(framing);
        let mut seen = Vec::new();
        for piece in wire.chunks(split) {
            body.feed(piece, &mut |d: &[u8]| seen.extend_from_slice(d))?;
        }
        Ok((body.data, body.done(), seen))
    }

    #[test]
    fn chunked_bodies_decode_in_any_split() {
        let wire = b"5;ext=1\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\n";
        for split in 1..wire.len() {
            let (n, done, seen) = count(Framing::Chunked, wire, split).unwrap();
            assert_eq!((n, done), (31, true), "split {split}");
            assert_eq!(seen, b"helloabcdefghijklmnopqrstuvwxyz");
        }
    }

    #[test]
    fn chunked_bodies_end_at_the_empty_line() {
        let (n, done, _) = count(Framing::Chunked, b"3\r\nabc\r\n0\r\n", 4).unwrap();
        assert_eq!((n, done), (3, false));
        let (_, done, _) = count(Framing::Chunked, b"3\r\nabc\r\n0\r\n\r\n", 4).unwrap();
        assert!(done);
    }

    #[test]
    fn malformed_framing_is_an_error() {
        for wire in [&b"zz\r\n"[..], b"3\r\nabcX", b"\r\n", b"0\r\n\r\nmore"] {
            assert!(count(Framing::Chunked, wire, 1).is_err(), "{wire:?}");
        }
        assert!(count(Framing::Length(2), b"abc", 3).is_err());
    }

    #[test]
    fn heads_give_status_and_framing() {
        let (status, framing) =
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nServer: x").unwrap();
        assert_eq!((status, framing), (200, Framing::Length(12)));
        let (_, framing) =
            parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 12")
                .unwrap();
        assert_eq!(framing, Framing::Chunked);
        assert!(parse_head(b"HTTP/2 200").is_err());
    }
}
