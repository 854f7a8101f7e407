//! Demultiplexing `pdsh`/`clush` output: every line is `host: text`, hosts interleave.
//!
//! A host's lines are gathered, prefix removed, until the host is complete, then queued as
//! one buffer for a worker to parse (so parsing runs in parallel with reading). A host is
//! complete at the end of the stream, but a 10,000-host stream cannot be held in memory
//! until then: at most `pdsh_window` hosts are held, and when a new host would exceed that,
//! the least recently active host is taken as complete (`pdsh` runs a bounded fan-out of
//! hosts at a time, so the least recently active one has almost always finished). Should a
//! completed host's lines turn up again, they are reported, not silently merged into a node
//! that was already analysed.
//!
//! `pdsh` writes a host's lines in batches, so reading goes by runs: lines are taken in
//! place from the read buffer, and while they start with the last host's `host: ` each is
//! copied, newline and all, to that host's text with no other per-line work; a change of
//! host is one hash lookup of the bytes before the `:`. Everything unusual (bytes that are
//! not ASCII, over-long lines, bare `host:` lines, hosts that look like hex dump offsets,
//! lines of unknown hosts) takes the general path, which decides as
//! [`split_host_prefix`] does. Which stream line each host line came from is kept per run
//! ([`LineMap`]), for messages.
//!
//! Memory is the window's hosts' output (each capped at [`MAX_NODE_TEXT_BYTES`]) plus a set
//! of completed host names: about 150 MB for a 1,000-host stream of 300 KB GPU-server dumps
//! at the default window of 256, whatever the stream's length. A new host's buffer is
//! reserved at the size of the largest host held (at most [`MAX_SIZE_HINT`]), so the bound
//! stays the window times the largest host.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;

use trainyard_pci::text::header_line::{split_address, split_host_prefix};
use trainyard_pci::text::MAX_LINE_LEN;

use super::context::{Context, Sink};
use super::heads::Heads;
use super::line_map::LineMap;
use super::queue::Work;
use super::stream::{skipped, Buffer, BufferKind, MAX_NODE_TEXT_BYTES, MAX_PROBLEMS_PER_INPUT};
use super::{FleetItem, Skipped};
use crate::fxhash::FxBuild;

/// Longest prefix a host name (253 bytes) and `: ` add to an lspci line.
const MAX_PREFIX: usize = 255;

/// Most bytes reserved for a new host's text from the size of another host (see
/// [`Demux::line`]): one odd host of 64 MiB should not make every later one reserve that.
const MAX_SIZE_HINT: usize = 4 << 20;

/// A host whose lines are being gathered.
struct Pending {
    /// The host's name, as in the prefix.
    host: String,
    /// `host: `, what the host's lines start with.
    prefix: Prefix,
    /// The host could be mistaken for a hex dump row offset (`c0`), which
    /// [`split_host_prefix`] decides from the rest of the line: such a host never takes the
    /// fast paths of [`Demux::same_host_run`] and [`Demux::known_host`].
    hex_like: bool,
    text: Vec<u8>,
    /// Stream line of each gathered line.
    lines: LineMap,
    /// The column-0 lines of `text`, for the block memo.
    heads: Heads,
    /// Stream line of the host's last line: the host with the lowest was active least
    /// recently.
    last_active: usize,
    /// The host's output passed [`MAX_NODE_TEXT_BYTES`]; later lines are dropped.
    over_cap: bool,
}

/// Lines of a host after it was completed.
struct Resumed {
    first_line: usize,
    count: usize,
}

/// The demultiplexer for one stream.
pub(super) struct Demux<'c, 'o> {
    ctx: &'c Context<'o>,
    label: &'c str,
    window: usize,
    /// Hosts being gathered; `None` marks a free slot (listed in `free`). Slots rather than
    /// map values so that the last host is remembered by index, without a hash lookup.
    slots: Vec<Option<Pending>>,
    free: Vec<usize>,
    // Looked up once per change of host: FxHash rather than SipHash, host names are short.
    // Keyed by bytes so that a line's prefix is looked up without a UTF-8 check.
    index: HashMap<Vec<u8>, usize, FxBuild>,
    /// Slot of the host of the last prefixed line: `pdsh` writes a host's lines in batches,
    /// so most lines go to the same host as the line before.
    last: Option<usize>,
    finalized: HashSet<String, FxBuild>,
    resumed: HashMap<String, Resumed, FxBuild>,
    /// Lines that belong to no host's lspci output, listed up to a limit and then counted.
    stray: usize,
    /// Slots of hosts recently changed to, by [`recent_index`] of their name: a change of
    /// host (a fifth of the lines) is found here with two word comparisons, in place of
    /// hashing the name and comparing it in the map (see [`Self::next_host`]). A hint
    /// only: an entry is used when the slot's host has the line's name.
    recent: [Option<usize>; RECENT],
    newlines: Newlines,
}

/// Entries of [`Demux::recent`]: as many as the default window, several times `pdsh`'s
/// default fan-out of 32 hosts (the hosts whose batches interleave at any time), so that
/// two of those rarely share an entry.
const RECENT: usize = 256;

/// Where a host name goes in [`Demux::recent`]: a hash of its last 8 bytes (or all of
/// them), where names of one fleet differ.
fn recent_index(name: &[u8]) -> usize {
    let n = name.len();
    let key = match name.get(n.saturating_sub(8)..) {
        Some(last) if n >= 8 => word(last),
        _ => name.iter().fold(0u64, |k, &b| (k << 8) | u64::from(b)),
    };
    // Fibonacci hashing: the top bits of the product mix every byte of the key.
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - RECENT.trailing_zeros())) as usize
}

/// Longest line kept: longer ones are skipped whole.
const MAX_STREAM_LINE: usize = MAX_LINE_LEN + MAX_PREFIX;

impl<'c, 'o> Demux<'c, 'o> {
    /// A demultiplexer for the stream `label`.
    pub(super) fn new(ctx: &'c Context<'o>, label: &'c str) -> Self {
        Self {
            ctx,
            label,
            window: ctx.opts.pdsh_window.max(1),
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::default(),
            last: None,
            finalized: HashSet::default(),
            resumed: HashMap::default(),
            stray: 0,
            recent: [None; RECENT],
            newlines: Newlines::new(),
        }
    }

    /// Reads the whole stream, handing each completed host on.
    ///
    /// Lines are taken straight from the reader's buffer ([`Self::whole_lines`]); only a
    /// line cut by the end of a buffer is copied, into `partial`, to be completed from the
    /// next one.
    pub(super) fn run(mut self, mut reader: impl BufRead, sink: Sink<'_>) {
        let mut partial = Vec::with_capacity(256);
        // The partial line's whole length: bytes past [`MAX_STREAM_LINE`] are not kept.
        let mut partial_len = 0usize;
        let mut line_no = 0usize;
        loop {
            let available = match reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let item = skipped(self.label, Some(line_no + 1), format!("read error: {e}"));
                    sink(self.label, item);
                    break;
                }
            };
            if available.is_empty() {
                if partial_len > 0 {
                    // The last line, without a newline.
                    line_no += 1;
                    self.raw_line(&partial, partial_len, false, line_no, sink);
                }
                break;
            }
            let mut start = 0;
            if partial_len > 0 {
                let end = memchr::memchr(b'\n', available);
                let chunk = &available[..end.unwrap_or(available.len())];
                let room = MAX_STREAM_LINE.saturating_sub(partial.len());
                partial.extend_from_slice(&chunk[..chunk.len().min(room)]);
                partial_len += chunk.len();
                match end {
                    Some(i) => {
                        line_no += 1;
                        self.raw_line(&partial, partial_len, false, line_no, sink);
                        // `partial_len` is set again from this buffer's tail below.
                        partial.clear();
                        start = i + 1;
                    }
                    None => {
                        let n = available.len();
                        reader.consume(n);
                        continue;
                    }
                }
            }
            // One check for the whole buffer (lspci output is ASCII) instead of a UTF-8
            // check per line.
            let ascii = available[start..].is_ascii();
            start += self.whole_lines(&available[start..], ascii, &mut line_no, sink);
            let tail = &available[start..];
            partial.extend_from_slice(&tail[..tail.len().min(MAX_STREAM_LINE)]);
            partial_len = tail.len();
            let n = available.len();
            reader.consume(n);
        }
        self.finish(sink);
    }

    /// Reads the lines of `buf` that end in a newline and says where the last one ends;
    /// `ascii` says that `buf` is ASCII.
    fn whole_lines(
        &mut self,
        buf: &[u8],
        ascii: bool,
        line_no: &mut usize,
        sink: Sink<'_>,
    ) -> usize {
        let mut pos = 0;
        loop {
            if ascii {
                pos = self.runs(buf, pos, line_no);
            }
            let Some(len) = self.newlines.find(&buf[pos..]) else {
                return pos;
            };
            *line_no += 1;
            self.raw_line(&buf[pos..pos + len], len, ascii, *line_no, sink);
            pos += len + 1;
        }
    }

    /// Takes runs of lines of hosts being gathered from `pos` on ([`Self::same_host_run`]),
    /// and says where the first line it left starts; `buf` is ASCII.
    ///
    /// The run of the last line's host comes first; at the end of a run the next line's
    /// host is looked up from the bytes before a `:` where the run's host name ended (a
    /// fleet's host names mostly have one length), so that a change of host costs one hash
    /// lookup. A line whose host is not found so, or that no run takes, is left to
    /// [`Self::raw_line`].
    fn runs(&mut self, buf: &[u8], mut pos: usize, line_no: &mut usize) -> usize {
        let Some(mut slot) = self.last else {
            return pos;
        };
        loop {
            let before = *line_no;
            pos = self.same_host_run(slot, buf, pos, line_no);
            if *line_no > before {
                self.last = Some(slot);
            }
            // The line at `pos` is `slot`'s when the run stopped for another reason than a
            // change of host: then it is not looked at again here.
            match self.next_host(slot, &buf[pos..]) {
                Some(next) if next != slot => slot = next,
                _ => return pos,
            }
        }
    }

    /// The slot of the host being gathered whose name is the first bytes of `rest` and as
    /// long as the name of `slot`'s host, followed by a `:` (see [`Self::known_host`] for
    /// why that decides).
    ///
    /// The slot is looked for first in [`Self::recent`], by the name's last bytes, and
    /// taken from there only if that slot's host has a name of that length and its prefix
    /// (`host: `) starts `rest`, which proves the name; else (another host there, a bare
    /// `host:`) it comes from the map.
    fn next_host(&mut self, slot: usize, rest: &[u8]) -> Option<usize> {
        let n = self.slots[slot].as_ref()?.host.len();
        if rest.get(n) != Some(&b':') {
            return None;
        }
        let name = &rest[..n];
        let i = recent_index(name);
        if let Some(s) = self.recent[i] {
            let named = |p: &Pending| p.prefix.len() == n + 2 && p.prefix.starts(rest);
            if self.slots[s].as_ref().is_some_and(named) {
                return Some(s);
            }
        }
        let s = self.index.get(name).copied()?;
        self.recent[i] = Some(s);
        Some(s)
    }

    /// Takes the lines of `buf` from `pos` on that start with `host: ` of the host in
    /// `slot` into that host, and says where the first other line starts; `buf` is ASCII.
    ///
    /// This is the path of almost every line, `pdsh` writing a host's lines in batches: no
    /// prefix split, hash lookup or UTF-8 check per line, the prefix compared in one go
    /// ([`Prefix::starts`]), one copy per line with its newline, and the lines' stream
    /// numbers and the host's activity recorded once per run. Any line out of the ordinary
    /// (over [`MAX_STREAM_LINE`], past the host's cap, a bare `host:`, cut by the end of
    /// `buf`, a hex-like host) is left to [`Self::raw_line`], which has the rules for it.
    fn same_host_run(&mut self, slot: usize, buf: &[u8], pos: usize, line_no: &mut usize) -> usize {
        let newlines = &self.newlines;
        let Some(p) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return pos;
        };
        if p.hex_like || p.over_cap {
            return pos;
        }
        let first = *line_no + 1;
        let (pos, count) = take_run(p, newlines, buf, pos);
        *line_no += count;
        if *line_no >= first {
            p.lines.push_run(first, *line_no + 1 - first);
            p.last_active = *line_no;
        }
        pos
    }

    /// One line of the stream without its newline; `len` is its whole length, of which
    /// `raw` holds at most [`MAX_STREAM_LINE`] bytes; `ascii` says that it is known to be
    /// ASCII.
    fn raw_line(&mut self, raw: &[u8], len: usize, ascii: bool, line_no: usize, sink: Sink<'_>) {
        if len > MAX_STREAM_LINE {
            self.stray(line_no, &format!("line of {len} bytes skipped"), sink);
            return;
        }
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if let Some((slot, rest)) = self.known_host(raw) {
            self.last = Some(slot);
            if let Some(p) = self.slots[slot].as_mut() {
                p.last_active = line_no;
                push_line(p, rest, ascii, line_no, self.label, sink);
            }
            return;
        }
        // The strict check is the fast path; lspci's stray bytes are rare.
        let lossy;
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t,
            Err(_) => {
                lossy = String::from_utf8_lossy(raw);
                &lossy
            }
        };
        self.line(text, line_no, sink);
    }

    /// The slot of a host being gathered when `raw` carries its prefix (`host: ` or a bare
    /// `host:`), with the rest of the line.
    ///
    /// Decided as [`split_host_prefix`] would, by comparing bytes: a host being gathered
    /// passed its checks when it was first seen, and its name holds no `:`, so when what
    /// comes before a `:` is such a name, that `:` is the line's first and ends the
    /// prefix. Only a hex-like host (`c0`, see [`hex_like`]) needs the rest of the line to
    /// decide, and is left to [`Self::line`]. The host names of a fleet mostly have one
    /// length, so the `:` is looked for where the last host's ended before it is searched.
    fn known_host<'r>(&self, raw: &'r [u8]) -> Option<(usize, &'r [u8])> {
        let guess = self
            .last
            .and_then(|s| self.slots[s].as_ref())
            .map(|p| p.host.len())
            .filter(|&n| raw.get(n) == Some(&b':'))
            .and_then(|n| Some((self.slot_of(&raw[..n])?, n)));
        let (slot, colon) = match guess {
            Some(found) => found,
            None => {
                let colon = memchr::memchr(b':', raw)?;
                (self.slot_of(&raw[..colon])?, colon)
            }
        };
        let rest: &[u8] = match &raw[colon + 1..] {
            [] => &[],
            [b' ', rest @ ..] => rest,
            _ => return None,
        };
        if self.slots[slot].as_ref()?.hex_like {
            return None;
        }
        Some((slot, rest))
    }

    /// The slot of the host being gathered named `host`: the last line's host is tried
    /// before the map.
    fn slot_of(&self, host: &[u8]) -> Option<usize> {
        let last = self.last.filter(|&s| {
            self.slots[s]
                .as_ref()
                .is_some_and(|p| p.host.as_bytes() == host)
        });
        last.or_else(|| self.index.get(host).copied())
    }

    fn line(&mut self, text: &str, line_no: usize, sink: Sink<'_>) {
        let (Some(host), rest) = split_host_prefix(text) else {
            if !text.trim().is_empty() {
                let note = format!("line without a `host: ` prefix skipped: {}", clip(text));
                self.stray(line_no, &note, sink);
            }
            return;
        };
        if let Some(&slot) = self.index.get(host.as_bytes()) {
            if let Some(p) = self.slots[slot].as_mut() {
                p.last_active = line_no;
                push_line(p, rest.as_bytes(), true, line_no, self.label, sink);
            }
            self.last = Some(slot);
            return;
        }
        if self.finalized.contains(host) {
            self.resumed
                .entry(host.to_string())
                .and_modify(|r| r.count += 1)
                .or_insert(Resumed {
                    first_line: line_no,
                    count: 1,
                });
            return;
        }
        // A host's output starts with a device line (or a snapshot); anything else before
        // it (`bash: lspci: command not found`, ssh errors) says why the host has no node.
        let starts_node = split_address(rest).is_some() || rest.trim_start().starts_with('{');
        if !starts_node {
            if !rest.trim().is_empty() {
                let note = format!("{host}: {}", clip(rest));
                self.stray(line_no, &note, sink);
            }
            return;
        }
        if self.index.len() >= self.window {
            self.evict_one(sink);
        }
        let mut buffers = self.ctx.host_buffers();
        if buffers.text.capacity() == 0 {
            // A fresh buffer (no parsed host's to reuse yet: the first window of a stream)
            // starts at the size of the largest host being gathered, which is about this
            // host's size in a fleet of like servers, instead of doubling from empty
            // through a dozen reallocations, each a copy of all the text so far; so do
            // its line map and column-0 lines.
            let largest = self.slots.iter().flatten().max_by_key(|p| p.text.len());
            if let Some(largest) = largest {
                let bytes = largest.text.len().min(MAX_SIZE_HINT);
                buffers.text.reserve(bytes);
                // Bounded: runs as the text is (each holds a line), column-0 lines by
                // `MAX_HEADS`.
                buffers
                    .lines
                    .reserve(largest.lines.runs().min(MAX_SIZE_HINT / 64));
                buffers.heads.reserve(largest.heads.len());
            }
        }
        let mut p = Pending {
            host: host.to_string(),
            prefix: Prefix::new(host),
            hex_like: hex_like(host),
            text: buffers.text,
            lines: buffers.lines,
            heads: buffers.heads,
            last_active: line_no,
            over_cap: false,
        };
        push_line(&mut p, rest.as_bytes(), true, line_no, self.label, sink);
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s] = Some(p);
                s
            }
            None => {
                self.slots.push(Some(p));
                self.slots.len() - 1
            }
        };
        self.index.insert(host.as_bytes().to_vec(), slot);
        self.last = Some(slot);
    }

    /// Completes the least recently active host to make room for a new one.
    fn evict_one(&mut self, sink: Sink<'_>) {
        // A linear scan: the window is a few hundred hosts and eviction happens at most once
        // per host, so this costs far less than reading the host's lines did.
        let oldest = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (i, p.last_active)))
            .min_by_key(|&(_, active)| active)
            .map(|(i, _)| i);
        if let Some(slot) = oldest {
            if let Some(p) = self.slots[slot].take() {
                self.free.push(slot);
                if self.last == Some(slot) {
                    self.last = None;
                }
                self.index.remove(p.host.as_bytes());
                self.finalized.insert(p.host.clone());
                self.complete(p, sink);
            }
        }
    }

    fn complete(&self, p: Pending, sink: Sink<'_>) {
        let buffer = Buffer {
            label: self.label.to_string(),
            default_name: p.host,
            bytes: p.text,
            kind: BufferKind::Host {
                lines: p.lines,
                heads: p.heads,
            },
        };
        self.ctx.hand_off(Work::Buffer(buffer), sink);
    }

    /// Reports a line that belongs to no node, the first [`MAX_PROBLEMS_PER_INPUT`] one by
    /// one and the rest as a count at the end.
    fn stray(&mut self, line_no: usize, note: &str, sink: Sink<'_>) {
        self.stray += 1;
        if self.stray <= MAX_PROBLEMS_PER_INPUT {
            let item = FleetItem::Skipped(Skipped {
                input: self.label.to_string(),
                line: Some(line_no),
                error: note.to_string(),
                lost_data: false,
            });
            sink(self.label, item);
        }
    }

    fn finish(mut self, sink: Sink<'_>) {
        // Complete the remaining hosts in the order they were last active, which is close to
        // the stream's order.
        let mut rest: Vec<Pending> = self.slots.drain(..).flatten().collect();
        rest.sort_by_key(|p| p.last_active);
        for p in rest {
            self.complete(p, sink);
        }
        let mut resumed: Vec<(String, Resumed)> = self.resumed.drain().collect();
        resumed.sort_by_key(|(_, r)| r.first_line);
        for (host, r) in resumed {
            let error = format!(
                "host {host} resumed after it was finalized ({} lines skipped); raise \
                 --pdsh-window (now {})",
                r.count, self.window
            );
            sink(self.label, skipped(self.label, Some(r.first_line), error));
        }
        if self.stray > MAX_PROBLEMS_PER_INPUT {
            let error = format!(
                "{} more lines that belong to no node not listed",
                self.stray - MAX_PROBLEMS_PER_INPUT
            );
            sink(self.label, skipped(self.label, None, error));
        }
    }
}

/// Copies the lines of `buf` from `pos` on that start with the prefix of `p`'s host into
/// its text, up to the first line that does not or that [`Demux::raw_line`] must see (see
/// [`Demux::same_host_run`]); says where that line starts and how many lines were taken.
///
/// Its own function, not inlined into [`Demux::run`]: there, with the whole reading loop
/// around it, the compiler kept this loop's counters on the stack (a load and a store per
/// line for each); alone, they stay in registers.
#[inline(never)]
fn take_run(p: &mut Pending, newlines: &Newlines, buf: &[u8], mut pos: usize) -> (usize, usize) {
    let n = p.prefix.len();
    // Longer lines are left to `raw_line`: over `MAX_STREAM_LINE` it skips them, and over
    // `MAX_LINE_LEN` (the parser's limit) `push_line` notes them in `heads`, so that here
    // every line is short enough for the block memo.
    let longest = MAX_STREAM_LINE.saturating_sub(n).min(MAX_LINE_LEN);
    // The host's line index of the next line taken is `before + count`.
    let before = p.lines.len();
    let mut count = 0;
    let text = &mut p.text;
    let heads = &mut p.heads;
    while p.prefix.starts(&buf[pos..]) {
        let from = pos + n;
        let Some(len) = newlines.find(&buf[from..]) else {
            break;
        };
        if len > longest {
            break;
        }
        let newline = from + len;
        let cr = len > 0 && buf[newline - 1] == b'\r';
        let text_len = len - usize::from(cr);
        if (text.len() + text_len) as u64 >= MAX_NODE_TEXT_BYTES {
            break;
        }
        // Every line passes here, so the few that can start a device are noted for the
        // block memo, which then need not walk the text again. Tested as
        // `Heads::note` does, the tab first: 95% of lines are indented.
        if buf[from] != b'\t' && buf[from] != b' ' && text_len > 0 {
            let start = text.len();
            heads.push(start, start + text_len, before + count);
        }
        if cr {
            text.extend_from_slice(&buf[from..newline - 1]);
            text.push(b'\n');
        } else {
            // The line with its newline, as the host's text has it.
            text.extend_from_slice(&buf[from..=newline]);
        }
        count += 1;
        pos = newline + 1;
    }
    (pos, count)
}

/// Finds the end of a line.
///
/// `memchr::memchr` picks its searcher on every call; with lines of 60 bytes that choice
/// cost about as much as the search, so the AVX2 searcher is picked once and called
/// directly where the CPU has it.
#[derive(Clone, Copy)]
enum Newlines {
    #[cfg(target_arch = "x86_64")]
    Avx2(memchr::arch::x86_64::avx2::memchr::One),
    Any,
}

impl Newlines {
    fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(one) = memchr::arch::x86_64::avx2::memchr::One::new(b'\n') {
            return Self::Avx2(one);
        }
        Self::Any
    }

    /// Where the first newline of `text` is.
    #[inline]
    fn find(&self, text: &[u8]) -> Option<usize> {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx2(one) => one.find(text),
            Self::Any => memchr::memchr(b'\n', text),
        }
    }
}

/// A host's line prefix, `host: `.
///
/// Compared with the start of every line of the host's batches, so when it is 8 to 16
/// bytes long (`node00017: ` is 11) it is compared as two overlapping 8-byte words, not
/// with a call to memcmp.
struct Prefix {
    bytes: Vec<u8>,
    /// The first 8 bytes, when there are 8 to 16.
    head: u64,
    /// The last 8 bytes, when there are 8 to 16.
    tail: u64,
}

impl Prefix {
    fn new(host: &str) -> Self {
        let mut bytes = Vec::with_capacity(host.len() + 2);
        bytes.extend_from_slice(host.as_bytes());
        bytes.extend_from_slice(b": ");
        let n = bytes.len();
        let (head, tail) = if (8..=16).contains(&n) {
            (word(&bytes[..8]), word(&bytes[n - 8..]))
        } else {
            (0, 0)
        };
        Self { bytes, head, tail }
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether `text` starts with the prefix.
    #[inline]
    fn starts(&self, text: &[u8]) -> bool {
        let n = self.bytes.len();
        if !(8..=16).contains(&n) {
            return text.starts_with(&self.bytes);
        }
        match (text.get(..8), text.get(n - 8..n)) {
            (Some(head), Some(tail)) => word(head) == self.head && word(tail) == self.tail,
            _ => false,
        }
    }
}

/// Eight bytes as a word (0 for a slice of another length, which callers never pass).
#[inline]
fn word(bytes: &[u8]) -> u64 {
    bytes.try_into().map_or(0, u64::from_ne_bytes)
}

/// Whether [`split_host_prefix`] may take a line of `host` for a hex dump row (2-3 hex
/// digits ending in `0`), depending on the rest of the line.
fn hex_like(host: &str) -> bool {
    (2..=3).contains(&host.len())
        && host.ends_with('0')
        && host.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Adds one line (prefix removed) to a host, unless its output is already over the cap.
/// Bytes that are not UTF-8 are replaced as the rest of the stream's text is, unless `utf8`
/// says the line is known to be UTF-8.
fn push_line(
    p: &mut Pending,
    rest: &[u8],
    utf8: bool,
    line_no: usize,
    label: &str,
    sink: Sink<'_>,
) {
    if p.over_cap {
        return;
    }
    let lossy;
    let rest = if utf8 || std::str::from_utf8(rest).is_ok() {
        rest
    } else {
        lossy = String::from_utf8_lossy(rest);
        lossy.as_bytes()
    };
    if (p.text.len() + rest.len()) as u64 >= MAX_NODE_TEXT_BYTES {
        p.over_cap = true;
        let error = format!(
            "host {}: output over {} MiB; the rest was not read",
            p.host,
            MAX_NODE_TEXT_BYTES >> 20
        );
        sink(label, skipped(label, Some(line_no), error));
        return;
    }
    p.heads.note(p.text.len(), rest, p.lines.len());
    p.text.extend_from_slice(rest);
    p.text.push(b'\n');
    p.lines.push(line_no);
}

/// A line cut short for a message.
fn clip(text: &str) -> &str {
    match text.char_indices().nth(120) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;

    use super::*;
    use crate::sources::ReadOptions;

    /// Runs the demultiplexer over `stream` read through a buffer of `capacity` bytes, and
    /// lists what it yields: nodes by name and device count, problems by line and message.
    fn demux(stream: &[u8], capacity: usize, window: usize) -> Vec<String> {
        let opts = ReadOptions {
            pdsh_window: window,
            ..ReadOptions::default()
        };
        let ctx = Context::new(&opts, 1, None);
        let mut out = Vec::new();
        let mut sink = |_: &str, item: FleetItem| {
            out.push(match item {
                FleetItem::Node(n) => format!("node {} {}", n.name, n.devices.len()),
                FleetItem::Skipped(s) => format!("skip {:?} {}", s.line, s.error),
            })
        };
        let reader = BufReader::with_capacity(capacity, stream);
        Demux::new(&ctx, "s").run(reader, &mut sink);
        ctx.queue.close_feed();
        while let Some((work, _busy)) = ctx.queue.pop() {
            ctx.handle(work, &mut sink);
        }
        out
    }

    fn stream() -> Vec<u8> {
        let mut s = Vec::new();
        s.extend_from_slice(b"a1: 00:00.0 Host bridge: Intel Corporation Device 1234\n");
        s.extend_from_slice(b"a1: \tControl: I/O- Mem+\r\n");
        s.extend_from_slice(b"b2: 00:00.0 Host bridge: Intel Corporation Device 1234\n");
        s.extend_from_slice(b"no prefix here\n");
        s.extend_from_slice(b"a1:\n");
        s.extend_from_slice(b"a1: 00:01.0 PCI bridge: Intel \xe2\x28 Device 5678\n");
        s.extend_from_slice(b"a10: 00:00.0 Host bridge: Intel Corporation Device 1234\n");
        s.extend_from_slice(b"c0: 00:00.0 Host bridge: Intel Corporation Device 1234\n");
        s.extend_from_slice(b"c0: 86 80 12 34\n");
        s.extend_from_slice(b"b2: ");
        s.extend(std::iter::repeat_n(b'x', MAX_STREAM_LINE + 10));
        s.extend_from_slice(b"\nb2: 00:02.0 Host bridge: Intel Corporation Device 1234\n");
        s.extend_from_slice(b"a1: 00:03.0 Host bridge: Intel Corp");
        s
    }

    #[test]
    fn lines_cut_by_the_read_buffer_read_the_same() {
        let s = stream();
        let whole = demux(&s, 1 << 16, 256);
        for capacity in [1, 2, 3, 5, 8, 13, 64, 4096] {
            assert_eq!(demux(&s, capacity, 256), whole, "capacity {capacity}");
        }
        let nodes: Vec<&String> = whole.iter().filter(|l| l.starts_with("node")).collect();
        assert_eq!(nodes.len(), 4, "{whole:#?}");
        assert!(
            whole.iter().any(|l| l.starts_with("node b2 2")),
            "{whole:#?}"
        );
        assert!(whole
            .iter()
            .any(|l| l.contains("Some(4) line without a `host: ` prefix")));
        assert!(whole.iter().any(|l| l.contains("Some(10) line of")));
    }

    #[test]
    fn runs_of_interleaved_hosts_keep_their_stream_lines() {
        // Two hosts with names of one length (the fast change of host), a third with a
        // longer name, runs of several lines, CRLF line ends and a bare `host:` in a run,
        // and a line each that the parser reports (a hex row out of place), by its stream
        // line.
        let mut s = Vec::new();
        let lines: [&[u8]; 14] = [
            b"n01: 00:00.0 Host bridge: Intel Corporation Device 1234\n",
            b"n01: \tControl: I/O- Mem+\r\n",
            b"n02: 00:00.0 Host bridge: Intel Corporation Device 1234\r\n",
            b"n02: \tControl: I/O- Mem+\n",
            b"n02: 10: 86 80 34 12 00 00 00 00 00 00 00 00 00 00 00 00\n",
            b"n01: 10: 86 80 34 12 00 00 00 00 00 00 00 00 00 00 00 00\n",
            b"n01:\n",
            b"n01: 00:01.0 Host bridge: Intel Corporation Device 1234\n",
            b"n100: 00:00.0 Host bridge: Intel Corporation Device 1234\n",
            b"n02: 00:01.0 Host bridge: Intel Corporation Device 1234\n",
            b"n100: 10: 86 80 34 12 00 00 00 00 00 00 00 00 00 00 00 00\n",
            b"n02:x is no prefix\n",
            b"n01: \tControl: I/O- Mem+\n",
            b"n02: \tControl: I/O- Mem+\n",
        ];
        for l in lines {
            s.extend_from_slice(l);
        }
        let whole = demux(&s, 1 << 16, 256);
        for capacity in [1, 2, 7, 40, 57, 100] {
            assert_eq!(demux(&s, capacity, 256), whole, "capacity {capacity}");
        }
        for (host, line) in [("n02", 5), ("n01", 6), ("n100", 11)] {
            let cited = format!("skip Some({line}) host {host}: bad hex row");
            assert!(
                whole.iter().any(|l| l.starts_with(&cited)),
                "{cited}: {whole:#?}"
            );
        }
        assert!(whole
            .iter()
            .any(|l| l.starts_with("skip Some(12) line without")));
        for node in ["node n01 2", "node n02 2", "node n100 1"] {
            assert!(whole.iter().any(|l| l == node), "{node}: {whole:#?}");
        }
    }

    /// The column-0 lines the demultiplexer notes for each host are those of the host's
    /// text, whatever path its lines took (runs, CRLF, bare `host:` lines, a line over the
    /// parser's limit, lines cut by the read buffer).
    #[test]
    fn hosts_column_zero_lines_are_those_of_their_text() {
        let mut s = stream();
        s.extend_from_slice(b"\nb2: ");
        s.extend(std::iter::repeat_n(b'y', MAX_LINE_LEN + 3));
        s.extend_from_slice(b"\nb2:  a space\nb2: \r\nb2: \t\r\na1: \tx\n");
        for capacity in [1, 7, 64, 1 << 16] {
            let opts = ReadOptions::default();
            // One worker: the queue holds 4 buffers, so none of the 4 hosts is parsed
            // before it is looked at here.
            let ctx = Context::new(&opts, 1, None);
            let mut sink = |_: &str, _: FleetItem| {};
            let reader = BufReader::with_capacity(capacity, &s[..]);
            Demux::new(&ctx, "s").run(reader, &mut sink);
            ctx.queue.close_feed();
            let mut hosts = Vec::new();
            while let Some((work, _busy)) = ctx.queue.pop() {
                let Work::Buffer(Buffer {
                    default_name,
                    bytes,
                    kind: BufferKind::Host { heads, .. },
                    ..
                }) = work
                else {
                    panic!("only hosts are queued");
                };
                let want = super::super::heads::of_text(&bytes);
                assert_eq!(heads.heads(), want.heads(), "{default_name} at {capacity}");
                assert_eq!(heads.long_line(), want.long_line(), "{default_name}");
                hosts.push((default_name, heads.long_line()));
            }
            hosts.sort();
            let names: Vec<(&str, bool)> = hosts.iter().map(|(h, l)| (h.as_str(), *l)).collect();
            assert_eq!(
                names,
                [("a1", false), ("a10", false), ("b2", true), ("c0", false)]
            );
        }
    }

    /// Hosts whose names end in the same 8 bytes share an entry of the table of recent
    /// hosts: each line still goes to its own host.
    #[test]
    fn hosts_sharing_a_recent_entry_keep_their_lines() {
        let a = "anode0001";
        let b = "bnode0001";
        assert_eq!(recent_index(a.as_bytes()), recent_index(b.as_bytes()));
        let mut s = Vec::new();
        for (host, line) in [
            (a, "00:00.0 Host bridge: Intel Corporation Device 1234"),
            (b, "00:00.0 Host bridge: Intel Corporation Device 1234"),
            (a, "\tControl: I/O- Mem+"),
            (b, "00:01.0 Host bridge: Intel Corporation Device 1234"),
            (a, "\tStatus: Cap+"),
            (b, "00:02.0 Host bridge: Intel Corporation Device 1234"),
            (a, "00:01.0 Host bridge: Intel Corporation Device 1234"),
        ] {
            s.extend_from_slice(format!("{host}: {line}\n").as_bytes());
        }
        let whole = demux(&s, 1 << 16, 256);
        for capacity in [1, 5, 64] {
            assert_eq!(demux(&s, capacity, 256), whole, "capacity {capacity}");
        }
        for node in ["node anode0001 2", "node bnode0001 3"] {
            assert!(whole.iter().any(|l| l == node), "{node}: {whole:#?}");
        }
    }

    #[test]
    fn a_small_window_reads_the_same_through_any_buffer() {
        let s = stream();
        let whole = demux(&s, 1 << 16, 1);
        assert!(whole
            .iter()
            .any(|l| l.contains("resumed after it was finalized")));
        for capacity in [1, 3, 7] {
            assert_eq!(demux(&s, capacity, 1), whole, "capacity {capacity}");
        }
    }
}
