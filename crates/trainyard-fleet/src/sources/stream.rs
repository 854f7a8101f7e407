//! One stream (a file, stdin, an archive entry, a `pdsh` host's lines): what it is, decided
//! from its first bytes, and reading it into nodes.

use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::Path;

use trainyard_pci::text::header_line::{split_address, split_host_prefix};
use trainyard_snapshot::Snapshot;

use super::context::{Context, HostBuffers, Sink};
use super::heads::Heads;
use super::line_map::LineMap;
use super::{archive, blocks, pdsh, FleetItem, Skipped};
use crate::ingest;

/// Most bytes read from one text or binary input that is a single node (not a `pdsh`
/// stream). Real `lspci -vvvxxxx` output of a large server is a few MiB; the cap keeps a
/// multi-gigabyte mistake from being parsed into memory. Snapshots have their own cap in
/// [`ingest`].
pub const MAX_NODE_TEXT_BYTES: u64 = 64 << 20;

/// Bytes looked at to decide what a stream is.
pub(super) const HEAD_BYTES: usize = 64 << 10;

/// Problems listed one by one per input; the rest are counted in one last item, so that a
/// garbage file of a million lines gives a short report and bounded memory.
pub(super) const MAX_PROBLEMS_PER_INPUT: usize = 100;

/// Buffer size for reading files: large reads keep syscalls off the profile.
const READ_BUFFER: usize = 256 << 10;

/// Bytes already in memory, queued for a worker.
pub(super) struct Buffer {
    /// The input, for messages (`a.tar:node7.txt`, or the stream for a `pdsh` host).
    pub(super) label: String,
    /// Node name when the content does not name one.
    pub(super) default_name: String,
    /// The content.
    pub(super) bytes: Vec<u8>,
    /// What the bytes are.
    pub(super) kind: BufferKind,
}

/// Where a [`Buffer`] came from.
pub(super) enum BufferKind {
    /// An archive entry: any content but another archive.
    Entry,
    /// One `pdsh` host's lines, prefixes removed; `lines` gives the stream line of each, so
    /// problems name the line a person can find in the stream.
    Host {
        /// Stream line of each buffered line.
        lines: LineMap,
        /// The buffer's column-0 lines, noted while it was gathered.
        heads: Heads,
    },
}

/// Where a stream sits, to stop archives in archives and gzip in gzip (bombs, loops).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Nesting {
    /// Inside an archive: another archive is not opened.
    pub(super) in_archive: bool,
    /// Just decompressed: another gzip layer is not opened.
    pub(super) in_gzip: bool,
}

/// Where the lines of a single-node input come from, for messages.
#[derive(Clone, Copy)]
pub(super) struct Origin<'a> {
    /// The input's label.
    pub(super) label: &'a str,
    /// The `pdsh` host, when the input is one host of a stream.
    pub(super) host: Option<&'a str>,
    /// Stream line of each line (see [`BufferKind::Host`]).
    pub(super) lines: Option<&'a LineMap>,
}

impl Origin<'_> {
    fn skipped(&self, line: Option<usize>, error: impl std::fmt::Display, lost: bool) -> Skipped {
        let line = match (self.lines, line) {
            (Some(map), Some(l)) => map.get(l.saturating_sub(1)),
            (Some(map), None) => map.first(),
            (None, l) => l,
        };
        let error = match self.host {
            Some(h) => format!("host {h}: {error}"),
            None => error.to_string(),
        };
        Skipped {
            input: self.label.to_string(),
            line,
            error,
            lost_data: lost,
        }
    }
}

/// What a stream is, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gzip,
    Tar,
    Snapshot,
    Pdsh,
    /// Text with no lspci device line in a full head: not worth reading further.
    NotLspci,
    /// Anything else: lspci text, a hex dump, raw config space, junk that
    /// [`ingest::read_input`] explains line by line.
    Single,
}

fn classify(head: &[u8]) -> Kind {
    if head.starts_with(&[0x1f, 0x8b]) {
        return Kind::Gzip;
    }
    if head.get(257..262) == Some(b"ustar") {
        return Kind::Tar;
    }
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    if Snapshot::sniff(&text) {
        return Kind::Snapshot;
    }
    if head.contains(&0) {
        // Raw config space; `read_input` checks its size.
        return Kind::Single;
    }
    // The first device line decides, as in the text parser: prefixed means `pdsh`. A
    // prefixed snapshot (`host: {`) is `pdsh` output of `trainyard snapshot -o -`. Lines are
    // converted one at a time: the decision usually comes on the first line, and converting
    // the whole 64 KiB head showed in profiles of folders of small files.
    for line in head.split(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches('\r');
        if split_address(line).is_some() {
            return Kind::Single;
        }
        if let (Some(_), rest) = split_host_prefix(line) {
            if split_address(rest).is_some() || rest.trim_start().starts_with('{') {
                return Kind::Pdsh;
            }
        }
    }
    if head.len() >= HEAD_BYTES {
        Kind::NotLspci
    } else {
        // Small enough to explain line by line.
        Kind::Single
    }
}

impl Context<'_> {
    /// Reads a file named on the command line or found in a folder.
    pub(super) fn read_file(&self, path: &Path, explicit: bool, sink: Sink<'_>) {
        let label = path.display().to_string();
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => {
                let error = format!("cannot read: {e}");
                return sink(&label, skipped(&label, None, error));
            }
        };
        // A folder's file that turned into something else since the walk is skipped; an
        // explicit path may be a pipe (`<(pdsh ...)`).
        if !explicit && file.metadata().is_ok_and(|m| !m.is_file()) {
            let error = "not a regular file".to_string();
            return sink(&label, skipped(&label, None, error));
        }
        let name = ingest::name_from_path(path);
        let reader = Counting {
            inner: file,
            ctx: self,
        };
        self.read_stream(&label, &name, Box::new(reader), Nesting::default(), sink);
    }

    /// Reads standard input.
    pub(super) fn read_stdin(&self, sink: Sink<'_>) {
        let reader = Counting {
            inner: std::io::stdin().lock(),
            ctx: self,
        };
        let nest = Nesting::default();
        self.read_stream("<stdin>", "stdin", Box::new(reader), nest, sink);
    }

    /// Reads a buffer queued by an archive or `pdsh` reader.
    pub(super) fn read_buffer(&self, buffer: Buffer, sink: Sink<'_>) {
        let Buffer {
            label,
            default_name,
            bytes,
            kind,
        } = buffer;
        match kind {
            BufferKind::Entry => {
                let nest = Nesting {
                    in_archive: true,
                    in_gzip: false,
                };
                let reader = Box::new(Cursor::new(bytes));
                self.read_stream(&label, &default_name, reader, nest, sink);
            }
            BufferKind::Host { lines, heads } => {
                let origin = Origin {
                    label: &label,
                    host: Some(&default_name),
                    lines: Some(&lines),
                };
                let ingested = match blocks::read_host_text(&default_name, &bytes, &heads) {
                    Some(i) => Ok(i),
                    None => ingest::read_input(&default_name, &bytes[..]),
                };
                emit(origin, ingested, sink);
                self.recycle(HostBuffers {
                    text: bytes,
                    lines,
                    heads,
                });
            }
        }
    }

    /// Reads any stream: decides what it is from its first bytes and reads it so.
    pub(super) fn read_stream(
        &self,
        label: &str,
        name: &str,
        mut reader: Box<dyn Read + '_>,
        nest: Nesting,
        sink: Sink<'_>,
    ) {
        let head = match read_head(&mut reader) {
            Ok(h) => h,
            Err(e) => return sink(label, skipped(label, None, format!("read error: {e}"))),
        };
        let kind = classify(&head);
        let whole = Cursor::new(head).chain(reader);
        let origin = Origin {
            label,
            host: None,
            lines: None,
        };
        match kind {
            Kind::Gzip if nest.in_gzip => {
                let error = "gzip data inside gzip data is not read";
                sink(label, skipped(label, None, error))
            }
            Kind::Gzip => {
                let inner = flate2::read::MultiGzDecoder::new(whole);
                let nest = Nesting {
                    in_gzip: true,
                    ..nest
                };
                self.read_stream(label, name, Box::new(inner), nest, sink)
            }
            Kind::Tar if nest.in_archive => {
                let error = "an archive inside an archive is not read; extract it first";
                sink(label, skipped(label, None, error))
            }
            Kind::Tar => archive::read_tar(self, label, whole, sink),
            Kind::Pdsh => {
                let reader = BufReader::with_capacity(READ_BUFFER, whole);
                pdsh::Demux::new(self, label).run(reader, sink)
            }
            Kind::NotLspci => {
                let error = format!(
                    "not a snapshot, lspci output or config space: no lspci device line in \
                     the first {} KiB",
                    HEAD_BYTES >> 10
                );
                sink(label, skipped(label, None, error))
            }
            Kind::Snapshot => {
                let reader = BufReader::with_capacity(READ_BUFFER, whole);
                read_single(origin, name, reader, sink)
            }
            Kind::Single => {
                let mut capped = Capped {
                    inner: whole,
                    left: MAX_NODE_TEXT_BYTES,
                    hit: false,
                };
                // The whole input in memory (one node's text, capped) so that its device
                // blocks can be looked up in the block memo.
                let mut bytes = NODE_BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut()));
                match read_all(&mut capped, &mut bytes) {
                    Ok(n) => read_single_bytes(origin, name, &bytes[..n], sink),
                    Err(n) => {
                        // The parser reports the read error at its line, after the devices
                        // read before it, as when it read the input itself.
                        let rest = Cursor::new(&bytes[..n]).chain(&mut capped);
                        let reader = BufReader::with_capacity(READ_BUFFER, rest);
                        read_single(origin, name, reader, sink);
                    }
                }
                if capped.hit {
                    let error = format!(
                        "input over {} MiB: only the first {} MiB were read (not one node's \
                         lspci output?)",
                        MAX_NODE_TEXT_BYTES >> 20,
                        MAX_NODE_TEXT_BYTES >> 20
                    );
                    sink(label, skipped(label, None, error));
                }
                if bytes.len() <= KEEP_NODE_BUFFER {
                    NODE_BUFFER.with(|b| *b.borrow_mut() = bytes);
                }
            }
        }
    }
}

/// Reads `r` to its end into `buf` from offset 0; `Ok` with the number of bytes read, or
/// `Err` with the number read before an error (which the caller reads again to report it).
///
/// `buf` is kept initialized (its length is its room) and only grows: `read_to_end` on a
/// reused buffer zeroes the room it reads into on every call, which for a fleet folder
/// was a memset of every node's bytes, 5% of `fleet analyze`.
fn read_all(r: &mut impl Read, buf: &mut Vec<u8>) -> Result<usize, usize> {
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            let more = buf.len().max(64 << 10);
            buf.resize(buf.len() + more, 0);
        }
        match r.read(&mut buf[filled..]) {
            Ok(0) => return Ok(filled),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(filled),
        }
    }
}

thread_local! {
    /// A worker's buffer for one node's input, reused from file to file.
    static NODE_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A node buffer larger than this is freed after use rather than kept for the next file:
/// one odd 64 MiB input should not pin that much per worker.
const KEEP_NODE_BUFFER: usize = 8 << 20;

/// Reads one node's input held in memory: through the block memo when it is plain lspci
/// text ([`blocks`]), else with [`ingest::read_input`].
pub(super) fn read_single_bytes(origin: Origin<'_>, name: &str, bytes: &[u8], sink: Sink<'_>) {
    let ingested = match blocks::read_clean_text(name, bytes) {
        Some(i) => Ok(i),
        None => ingest::read_input(name, bytes),
    };
    emit(origin, ingested, sink);
}

/// Reads one node's input with [`ingest::read_input`] and hands on its nodes and problems.
pub(super) fn read_single(origin: Origin<'_>, name: &str, reader: impl BufRead, sink: Sink<'_>) {
    emit(origin, ingest::read_input(name, reader), sink);
}

/// Hands on what was read from one node's input: its problems, then its nodes.
fn emit(
    origin: Origin<'_>,
    ingested: Result<ingest::Ingested, ingest::IngestError>,
    sink: Sink<'_>,
) {
    let label = origin.label;
    let ingested = match ingested {
        Ok(i) => i,
        Err(e) => return sink(label, FleetItem::Skipped(origin.skipped(None, e, true))),
    };
    if ingested.nodes.is_empty() && !ingested.lost_data() {
        // An empty file, or one with nothing but notes (a `sudo` prompt).
        let error = "no PCI devices found (empty, or not lspci output)";
        sink(label, FleetItem::Skipped(origin.skipped(None, error, true)));
    }
    let total = ingested.problems.len();
    for p in ingested.problems.into_iter().take(MAX_PROBLEMS_PER_INPUT) {
        let item = origin.skipped(p.line, p.message, p.lost_data);
        sink(label, FleetItem::Skipped(item));
    }
    if total > MAX_PROBLEMS_PER_INPUT {
        let error = format!(
            "{} more problems not listed",
            total - MAX_PROBLEMS_PER_INPUT
        );
        sink(label, FleetItem::Skipped(origin.skipped(None, error, true)));
    }
    if ingested.truncated {
        // A cut capture lacks every device after the cut: folding it in would report them all
        // missing on this node. The node is left out and said so.
        let error =
            "the input is cut in the middle of a line: its node is left out of the analysis";
        sink(label, FleetItem::Skipped(origin.skipped(None, error, true)));
        return;
    }
    for node in ingested.nodes {
        sink(label, FleetItem::Node(node));
    }
}

/// A [`Skipped`] for a whole input.
pub(super) fn skipped(label: &str, line: Option<usize>, error: impl Into<String>) -> FleetItem {
    FleetItem::Skipped(Skipped {
        input: label.to_string(),
        line,
        error: error.into(),
        lost_data: true,
    })
}

/// Reads up to [`HEAD_BYTES`] (fewer only at end of input).
fn read_head(reader: &mut dyn Read) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(HEAD_BYTES);
    reader.take(HEAD_BYTES as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// Counts bytes read from a file or stdin for the progress report.
struct Counting<'c, 'o, R> {
    inner: R,
    ctx: &'c Context<'o>,
}

impl<R: Read> Read for Counting<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.ctx.add_bytes(n as u64);
        Ok(n)
    }
}

/// Ends a stream after `left` bytes, noting whether there was more.
struct Capped<R> {
    inner: R,
    left: u64,
    hit: bool,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            if !self.hit {
                let mut probe = [0u8; 1];
                self.hit = self.inner.read(&mut probe)? > 0;
            }
            return Ok(0);
        }
        let room = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..room])?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_content() {
        assert_eq!(classify(b"\x1f\x8b\x08rest"), Kind::Gzip);
        assert_eq!(classify(b"00:00.0 Host bridge: X\n"), Kind::Single);
        assert_eq!(classify(b"n1: 00:00.0 Host bridge: X\n"), Kind::Pdsh);
        assert_eq!(classify(b"$ sudo lspci\nn1: 00:00.0 X\n"), Kind::Pdsh);
        assert_eq!(classify(b"hello: world\n"), Kind::Single);
        let junk = "just some log line: nothing here\n".repeat(HEAD_BYTES / 20);
        assert_eq!(classify(&junk.as_bytes()[..HEAD_BYTES]), Kind::NotLspci);
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(classify(&tar), Kind::Tar);
    }

    #[test]
    fn capped_notes_more_data() {
        let mut r = Capped {
            inner: &b"abcdef"[..],
            left: 3,
            hit: false,
        };
        let mut out = Vec::new();
        r.read_to_end(&mut out).expect("in memory");
        assert_eq!(out, b"abc");
        assert!(r.hit);
    }

    #[test]
    fn read_all_reuses_a_buffer_and_reports_what_came_before_an_error() {
        /// Hands out `data` three bytes at a time, then fails if `fail`.
        struct Trickle<'a> {
            data: &'a [u8],
            fail: bool,
        }
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.data.is_empty() && self.fail {
                    return Err(std::io::Error::other("disk on fire"));
                }
                let n = self.data.len().min(buf.len()).min(3);
                buf[..n].copy_from_slice(&self.data[..n]);
                self.data = &self.data[n..];
                Ok(n)
            }
        }
        let long = vec![b'x'; 100_000];
        let mut buf = Vec::new();
        let n = read_all(&mut &long[..], &mut buf).expect("in memory");
        assert_eq!(&buf[..n], &long[..]);
        // A shorter input into the same buffer: only its bytes count.
        let mut short = Trickle {
            data: b"hello\nworld\n",
            fail: false,
        };
        let n = read_all(&mut short, &mut buf).expect("in memory");
        assert_eq!(&buf[..n], b"hello\nworld\n");
        let mut failing = Trickle {
            data: b"partial",
            fail: true,
        };
        assert_eq!(read_all(&mut failing, &mut buf), Err(7));
        assert_eq!(&buf[..7], b"partial");
    }
}
