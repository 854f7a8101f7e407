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
//! Memory is the window's hosts' output (each capped at [`MAX_NODE_TEXT_BYTES`]) plus a set
//! of completed host names: about 150 MB for a 1,000-host stream of 300 KB GPU-server dumps
//! at the default window of 256, whatever the stream's length.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;

use trainyard_pci::text::header_line::{split_address, split_host_prefix};
use trainyard_pci::text::{read_limited_line, MAX_LINE_LEN};

use super::context::{Context, Sink};
use super::queue::Work;
use super::stream::{skipped, Buffer, BufferKind, MAX_NODE_TEXT_BYTES, MAX_PROBLEMS_PER_INPUT};
use super::{FleetItem, Skipped};
use crate::fxhash::FxBuild;

/// Longest prefix a host name (253 bytes) and `: ` add to an lspci line.
const MAX_PREFIX: usize = 255;

/// A host whose lines are being gathered.
struct Pending {
    text: Vec<u8>,
    /// Stream line of each gathered line.
    lines: Vec<usize>,
    /// When the host last had a line (a counter, not a clock).
    last_active: u64,
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
    // Looked up once per line: FxHash rather than SipHash, host names are short.
    pending: HashMap<String, Pending, FxBuild>,
    finalized: HashSet<String, FxBuild>,
    resumed: HashMap<String, Resumed, FxBuild>,
    /// Lines that belong to no host's lspci output, listed up to a limit and then counted.
    stray: usize,
    tick: u64,
}

impl<'c, 'o> Demux<'c, 'o> {
    /// A demultiplexer for the stream `label`.
    pub(super) fn new(ctx: &'c Context<'o>, label: &'c str) -> Self {
        Self {
            ctx,
            label,
            window: ctx.opts.pdsh_window.max(1),
            pending: HashMap::default(),
            finalized: HashSet::default(),
            resumed: HashMap::default(),
            stray: 0,
            tick: 0,
        }
    }

    /// Reads the whole stream, handing each completed host on.
    pub(super) fn run(mut self, mut reader: impl BufRead, sink: Sink<'_>) {
        let mut buf = Vec::with_capacity(256);
        let mut line_no = 0usize;
        loop {
            match read_limited_line(&mut reader, &mut buf, MAX_LINE_LEN + MAX_PREFIX) {
                Err(e) => {
                    let item = skipped(self.label, Some(line_no + 1), format!("read error: {e}"));
                    sink(self.label, item);
                    break;
                }
                Ok(None) => break,
                Ok(Some((len, _))) => {
                    line_no += 1;
                    if len > MAX_LINE_LEN + MAX_PREFIX {
                        self.stray(line_no, &format!("line of {len} bytes skipped"), sink);
                        continue;
                    }
                    // The strict check is the fast path; lspci's stray bytes are rare.
                    let lossy;
                    let text = match std::str::from_utf8(&buf) {
                        Ok(t) => t,
                        Err(_) => {
                            lossy = String::from_utf8_lossy(&buf);
                            &lossy
                        }
                    };
                    let text = text.strip_suffix('\r').unwrap_or(text);
                    self.line(text, line_no, sink);
                }
            }
        }
        self.finish(sink);
    }

    fn line(&mut self, text: &str, line_no: usize, sink: Sink<'_>) {
        let (Some(host), rest) = split_host_prefix(text) else {
            if !text.trim().is_empty() {
                let note = format!("line without a `host: ` prefix skipped: {}", clip(text));
                self.stray(line_no, &note, sink);
            }
            return;
        };
        self.tick += 1;
        if let Some(p) = self.pending.get_mut(host) {
            p.last_active = self.tick;
            push_line(p, rest, line_no, host, self.label, sink);
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
        if self.pending.len() >= self.window {
            self.evict_one(sink);
        }
        let buffers = self.ctx.host_buffers();
        let mut p = Pending {
            text: buffers.text,
            lines: buffers.lines,
            last_active: self.tick,
            over_cap: false,
        };
        push_line(&mut p, rest, line_no, host, self.label, sink);
        self.pending.insert(host.to_string(), p);
    }

    /// Completes the least recently active host to make room for a new one.
    fn evict_one(&mut self, sink: Sink<'_>) {
        // A linear scan: the window is a few hundred hosts and eviction happens at most once
        // per host, so this costs far less than reading the host's lines did.
        let oldest = self
            .pending
            .iter()
            .min_by_key(|(_, p)| p.last_active)
            .map(|(h, _)| h.clone());
        if let Some(host) = oldest {
            if let Some(p) = self.pending.remove(&host) {
                self.finalized.insert(host.clone());
                self.complete(host, p, sink);
            }
        }
    }

    fn complete(&self, host: String, p: Pending, sink: Sink<'_>) {
        let buffer = Buffer {
            label: self.label.to_string(),
            default_name: host,
            bytes: p.text,
            kind: BufferKind::Host { lines: p.lines },
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
        let mut rest: Vec<(String, Pending)> = self.pending.drain().collect();
        rest.sort_by_key(|(_, p)| p.last_active);
        for (host, p) in rest {
            self.complete(host, p, sink);
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

/// Adds one line to a host, unless its output is already over the cap.
fn push_line(p: &mut Pending, rest: &str, line_no: usize, host: &str, label: &str, sink: Sink<'_>) {
    if p.over_cap {
        return;
    }
    if (p.text.len() + rest.len()) as u64 >= MAX_NODE_TEXT_BYTES {
        p.over_cap = true;
        let error = format!(
            "host {host}: output over {} MiB; the rest was not read",
            MAX_NODE_TEXT_BYTES >> 20
        );
        sink(label, skipped(label, Some(line_no), error));
        return;
    }
    p.text.extend_from_slice(rest.as_bytes());
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
