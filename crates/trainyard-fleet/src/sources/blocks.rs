//! Parsing each distinct device block of a fleet once: a per-thread memo from a device's
//! lines (as bytes) to the parsed [`Device`], shared between the nodes that repeat it.
//!
//! A fleet's nodes repeat most of their `lspci` output byte for byte: on the synthetic
//! 10,000-node fleet of `bench/fleet.sh`, 71% of the device blocks (root ports, switches,
//! bridges, idle functions) are identical across nodes. Parsing such a block again costs
//! a few thousand instructions per line; looking it up costs one hash over its bytes and
//! one comparison. A hit hands out the same `Arc<Device>` every time, so nothing is built
//! or freed per node, a device's `Fields` index is built once, and the fold recognises a
//! device identical to its slot's reference by its address alone.
//!
//! # What is cached, and when the memo steps aside
//! Only the clean case: the input is UTF-8 text without NUL bytes, ends with a newline,
//! has no line over [`MAX_LINE_LEN`], and starts with a device header line without a
//! `pdsh` prefix. It is cut at device header lines ([`starts_device`], the same cut as
//! `trainyard-pci`'s parallel parser), and each piece must parse into exactly one device,
//! with no diagnostic, and, for hex rows, decode. Anything else (a prompt above the
//! output, an lspci error message, a broken hex row, a cut file) gives `None`, and the
//! caller parses the whole input the ordinary way, so every problem is reported exactly as
//! before. Problems are never cached.
//!
//! A block is keyed by its bytes *and* its first line number: a device records the line it
//! starts on ([`Device::line`]), so a shared device is only right for inputs where it
//! starts on the same line. Nodes of one fleet nearly always do; where a missing device
//! shifts the lines below it, those blocks are parsed again.
//!
//! # Memory
//! A block is kept only when it turns up a second time (its hash is noted the first time,
//! in a set of at most [`MAX_SEEN`] hashes), so the blocks that carry a node's serial
//! numbers never take room. What is kept is bounded per thread by [`MEMO_BYTES`] of block
//! text (plus the devices parsed from it, a small multiple). When the memo is full, the
//! blocks not used since the last sweep are dropped and the ones other nodes repeated are
//! kept; if those alone fill half of it, it starts over.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::hash::Hasher;
use std::sync::Arc;

use trainyard_pci::text::{pdsh_decision, starts_device, TextParser, MAX_LINE_LEN};
use trainyard_pci::{decode_config, Device};

use super::heads::Heads;
use super::patch::Templates;
use crate::fxhash::{FxBuild, FxHasher};
use crate::ingest::Ingested;
use crate::node::{Derived, InputKind, Node};

/// Most bytes of block text one thread's memo holds. A GPU server's distinct blocks are a
/// few hundred KB; the rest of the room takes the blocks of the nodes in between sweeps.
pub(crate) const MEMO_BYTES: usize = 8 << 20;

/// Most hashes of blocks seen once remembered per thread (8 bytes each, plus the table);
/// when full it starts over, which only delays keeping a block that repeats.
const MAX_SEEN: usize = 1 << 20;

/// Blocks longer than this are parsed but not kept: no real device prints that much, and
/// one such block would crowd out the rest.
const MAX_BLOCK_BYTES: usize = 256 << 10;

/// Longest column-0 line whose [`starts_device`] answer is remembered (a device header
/// line of `lspci -vvnn` is about 100 bytes).
const MAX_DEVICE_LINE: usize = 256;

/// Most column-0 lines whose [`starts_device`] answer is remembered per thread; a GPU
/// server has about 170 device header lines, mostly the same on every node.
const MAX_DEVICE_LINES: usize = 4096;

/// One parsed block.
struct Entry {
    /// The block's first line number in its input.
    line: usize,
    /// The block's bytes, to tell a hash collision from a hit.
    text: Box<[u8]>,
    /// The device, ready for the node (hex rows already decoded).
    device: Arc<Device>,
    /// Whether the device came from hex rows (decides the node's input kind).
    hex: bool,
    /// Whether another block used it since the last sweep.
    used: bool,
}

/// A thread's memo and the parser that fills it.
struct Memo {
    entries: HashMap<u64, Entry, FxBuild>,
    /// Sum of the entries' text lengths.
    bytes: usize,
    /// One parser for every block the thread parses: its capability-title cache (and the
    /// parser's per-thread line memo) carry over from node to node.
    parser: TextParser,
    /// The devices of the node being read, reused.
    devices: Vec<Arc<Device>>,
    /// How each of them was derived (see [`Node::derived`]), and whether any was.
    derived: Vec<Option<Derived>>,
    any_derived: bool,
    /// Hashes of blocks parsed once and not kept (see [`Memo::seen_before`]).
    seen: HashSet<u64, FxBuild>,
    /// Blocks that most others of their shape vary, to derive those from (see [`super::patch`]).
    templates: Templates,
    /// [`starts_device`] of column-0 lines already tested (see [`Memo::starts_device`]).
    device_lines: HashMap<Box<str>, bool, FxBuild>,
}

impl Default for Memo {
    fn default() -> Self {
        Self {
            entries: HashMap::default(),
            bytes: 0,
            parser: TextParser::fields_only(),
            devices: Vec::new(),
            derived: Vec::new(),
            any_derived: false,
            seen: HashSet::default(),
            templates: Templates::default(),
            device_lines: HashMap::default(),
        }
    }
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::new(Memo::default());
}

/// Reads `bytes` as one node named `name` through the thread's block memo, or `None` when
/// the input is not the clean case (see the module docs) and must be read with
/// [`ingest::read_input`](crate::ingest::read_input).
pub(crate) fn read_clean_text(name: &str, bytes: &[u8]) -> Option<Ingested> {
    MEMO.with(|memo| memo.borrow_mut().read(name, bytes))
}

/// [`read_clean_text`] for a `pdsh` host's text, whose column-0 lines the demultiplexer
/// noted in `heads` while gathering it: the same answer, without walking every line again.
pub(super) fn read_host_text(name: &str, bytes: &[u8], heads: &Heads) -> Option<Ingested> {
    if heads.overflow() {
        // Too many column-0 lines were noted to keep them all: walk the text.
        return read_clean_text(name, bytes);
    }
    MEMO.with(|memo| {
        memo.borrow_mut()
            .read_with(name, |m| m.read_host_blocks(bytes, heads))
    })
}

impl Memo {
    fn read(&mut self, name: &str, bytes: &[u8]) -> Option<Ingested> {
        self.read_with(name, |m| m.read_blocks(bytes))
    }

    /// One node named `name` from the devices `walk` puts in `self.devices` (see
    /// [`Self::read_blocks`]).
    fn read_with(
        &mut self,
        name: &str,
        walk: impl FnOnce(&mut Self) -> Option<(bool, bool)>,
    ) -> Option<Ingested> {
        self.devices.clear();
        self.derived.clear();
        self.any_derived = false;
        let result = walk(self);
        // The node takes the lists; the next node's start at this one's size, as nodes of
        // a fleet have about as many devices (growing them from empty cost a realloc
        // chain per node).
        let n = self.devices.len();
        let devices = std::mem::replace(&mut self.devices, Vec::with_capacity(n));
        let derived = if self.any_derived {
            std::mem::replace(&mut self.derived, Vec::with_capacity(n))
        } else {
            Vec::new()
        };
        let (any_hex, any_text) = result?;
        let kind = if any_hex && !any_text {
            InputKind::HexDump
        } else {
            InputKind::LspciText
        };
        Some(Ingested {
            kind: Some(kind),
            nodes: vec![Node::from_shared(name, kind, devices).with_derived(derived)],
            problems: Vec::new(),
            truncated: false,
        })
    }

    /// Fills `self.devices` from the blocks of `bytes`; `(any hex, any text)` devices.
    fn read_blocks(&mut self, bytes: &[u8]) -> Option<(bool, bool)> {
        if !bytes.ends_with(b"\n") || memchr::memchr(0, bytes).is_some() {
            return None;
        }
        let text = std::str::from_utf8(bytes).ok()?;
        let mut any = (false, false);
        // Start offset and line number of the block being gathered.
        let mut block: Option<(usize, usize)> = None;
        let mut start = 0;
        let mut line_no = 0;
        for end in memchr::memchr_iter(b'\n', bytes) {
            line_no += 1;
            let line = &text[start..end];
            if line.len() > MAX_LINE_LEN {
                return None;
            }
            // Indented lines and blank lines never start a device: the test is skipped for
            // the ~95% of lines that are indented.
            let header = !matches!(line.as_bytes().first(), None | Some(b'\t' | b' '))
                && self.starts_device(line);
            if header {
                match block {
                    Some((from, first)) => self.block(&text[from..start], first, &mut any)?,
                    // The first line decides `pdsh` prefixes for the parser; a prefixed
                    // stream read as one node is not the clean case.
                    None if pdsh_decision(line.trim_end_matches('\r')) != Some(false) => {
                        return None
                    }
                    None => {}
                }
                block = Some((start, line_no));
            } else if block.is_none() {
                // Something above the first device: the ordinary parser explains it.
                return None;
            }
            start = end + 1;
        }
        let (from, first) = block?;
        self.block(&text[from..], first, &mut any)?;
        Some(any)
    }

    /// [`Self::read_blocks`] for a text whose column-0 lines are `heads` (see
    /// [`Heads`]): the same cut, decided on those lines only, since no other line starts a
    /// device or is tested by the walk.
    fn read_host_blocks(&mut self, bytes: &[u8], heads: &Heads) -> Option<(bool, bool)> {
        if heads.long_line() || !bytes.ends_with(b"\n") || memchr::memchr(0, bytes).is_some() {
            return None;
        }
        let text = std::str::from_utf8(bytes).ok()?;
        let mut any = (false, false);
        let mut heads = heads.heads().iter();
        // The first line must be a device header without a `pdsh` prefix: an indented or
        // blank first line, or anything else above the first device, is not the clean case.
        let first = heads.next().filter(|h| h.index == 0 && h.start == 0)?;
        let line = text.get(first.start..first.end)?;
        if !self.starts_device(line) || pdsh_decision(line.trim_end_matches('\r')) != Some(false) {
            return None;
        }
        // Start offset and line number (from 1) of the block being gathered.
        let mut block = (first.start, first.index + 1);
        for head in heads {
            if self.starts_device(text.get(head.start..head.end)?) {
                let (from, line_no) = block;
                self.block(text.get(from..head.start)?, line_no, &mut any)?;
                block = (head.start, head.index + 1);
            }
        }
        let (from, line_no) = block;
        self.block(text.get(from..)?, line_no, &mut any)?;
        Some(any)
    }

    /// [`starts_device`] of a column-0 line, remembered: a fleet's nodes print the same
    /// device header lines, and deciding one parses its address (about 340 instructions for
    /// a GPU server's header line, against about 200 to look it up; 1,320 before
    /// `split_address` had its fast path, so this pays less than it did). Lines over
    /// [`MAX_DEVICE_LINE`] are not kept, and the table starts over at [`MAX_DEVICE_LINES`],
    /// so it holds at most about 1 MiB.
    fn starts_device(&mut self, line: &str) -> bool {
        if let Some(&starts) = self.device_lines.get(line) {
            return starts;
        }
        let starts = starts_device(line);
        if line.len() <= MAX_DEVICE_LINE {
            if self.device_lines.len() >= MAX_DEVICE_LINES {
                self.device_lines.clear();
            }
            self.device_lines.insert(line.into(), starts);
        }
        starts
    }

    /// The device of one block (`text`, starting at line `line`), from the memo or parsed.
    fn block(&mut self, text: &str, line: usize, any: &mut (bool, bool)) -> Option<()> {
        let shape = super::patch::shape(text);
        if let Some(device) = self.templates.exact(shape, text, line) {
            // Templates are plain lspci text (see `Templates::offer`).
            any.1 = true;
            self.devices.push(Arc::clone(device));
            self.derived.push(None);
            return Some(());
        }
        let mut h = FxHasher::default();
        h.write_usize(line);
        h.write(text.as_bytes());
        let hash = h.finish();
        if let Some(e) = self.entries.get_mut(&hash) {
            if e.line == line && *e.text == *text.as_bytes() {
                e.used = true;
                if e.hex {
                    any.0 = true;
                } else {
                    any.1 = true;
                }
                self.devices.push(Arc::clone(&e.device));
                self.derived.push(None);
                return Some(());
            }
        }
        let (device, hex, derived) =
            match self.templates.derive(&mut self.parser, shape, text, line) {
                Some((device, derived)) => (device, false, derived),
                None => {
                    let (device, hex) = self.parse(text, line)?;
                    let device = Arc::new(device);
                    self.templates.offer(text, &device);
                    (device, hex, None)
                }
            };
        self.any_derived |= derived.is_some();
        self.derived.push(derived);
        if hex {
            any.0 = true;
        } else {
            any.1 = true;
        }
        self.devices.push(Arc::clone(&device));
        // Admitted on its second sighting: a block seen once (a serial number, a counter)
        // is usually never seen again, and keeping it would only push out the ones that
        // repeat.
        if text.len() <= MAX_BLOCK_BYTES && self.seen_before(hash) {
            self.make_room(text.len());
            let old = self.entries.insert(
                hash,
                Entry {
                    line,
                    text: text.as_bytes().into(),
                    device,
                    hex,
                    used: false,
                },
            );
            self.bytes += text.len();
            if let Some(old) = old {
                self.bytes -= old.text.len();
            }
        }
        Some(())
    }

    /// Parses one block as the ordinary path would: one device, no diagnostics, hex rows
    /// decoded. `None` for anything else.
    fn parse(&mut self, text: &str, line: usize) -> Option<(Device, bool)> {
        let p = &mut self.parser;
        p.set_line_no(line - 1);
        p.set_pdsh(Some(false));
        let mut from = 0;
        for end in memchr::memchr_iter(b'\n', text.as_bytes()) {
            p.push_line(&text[from..end]);
            from = end + 1;
        }
        if from < text.len() {
            p.push_line(&text[from..]);
        }
        p.finish();
        let first = p.next_device();
        let second = p.next_device();
        let clean = p.take_diagnostics().is_empty();
        let (Some(dev), None, true) = (first, second, clean) else {
            // Drain whatever else came out, so the parser starts the next block empty.
            while p.next_device().is_some() {}
            return None;
        };
        if dev.host.is_some() {
            return None;
        }
        match &dev.config {
            None => Some((dev, false)),
            Some(bytes) => {
                // As `ingest` does: decoded from the bytes, keeping what only the text has.
                let mut decoded = decode_config(dev.address, bytes).ok()?;
                decoded.host = dev.host.clone();
                decoded.driver = dev.driver.clone();
                decoded.kernel_modules = dev.kernel_modules.clone();
                decoded.line = dev.line;
                Some((decoded, true))
            }
        }
    }

    /// Whether a block of this hash was parsed before (and not kept); notes it if not.
    fn seen_before(&mut self, hash: u64) -> bool {
        if self.seen.remove(&hash) {
            return true;
        }
        if self.seen.len() >= MAX_SEEN {
            self.seen.clear();
        }
        self.seen.insert(hash);
        false
    }

    /// Sweeps the memo when `more` bytes would overfill it.
    fn make_room(&mut self, more: usize) {
        if self.bytes + more <= MEMO_BYTES {
            return;
        }
        self.entries.retain(|_, e| std::mem::take(&mut e.used));
        self.bytes = self.entries.values().map(|e| e.text.len()).sum();
        if self.bytes + more > MEMO_BYTES / 2 {
            self.entries.clear();
            self.bytes = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::read_input;

    const TEMPLATE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/gpu-servers/hpe-cray-xd665-0EA228FAAE-vvnn.txt"
    );

    fn without_lines(d: &Device) -> Device {
        let mut d = d.clone();
        d.header.clear();
        for c in &mut d.capabilities {
            Arc::make_mut(c).lines.clear();
        }
        d
    }

    fn same(a: &Ingested, b: &Ingested) {
        assert_eq!(a.kind, b.kind);
        assert_eq!(a.problems, b.problems);
        assert_eq!(a.truncated, b.truncated);
        assert_eq!(a.nodes.len(), b.nodes.len());
        for (x, y) in a.nodes.iter().zip(&b.nodes) {
            assert_eq!(x.name, y.name);
            assert_eq!(x.kind, y.kind);
            assert_eq!(x.devices.len(), y.devices.len());
            // The memo parses in fields-only mode: the same device but for the register
            // lines, which the fleet never reads.
            for (dx, dy) in x.devices.iter().zip(&y.devices) {
                assert_eq!(**dx, without_lines(dy));
            }
        }
    }

    #[test]
    fn a_server_reads_the_same_through_the_memo_and_shares_repeats() {
        let text = std::fs::read(TEMPLATE).expect("fixture");
        let plain = read_input("n1", &text[..]).expect("text");
        let first = read_clean_text("n1", &text).expect("clean");
        same(&first, &plain);
        let second = read_clean_text("n1", &text).expect("clean");
        same(&second, &plain);
        // Kept on the second sighting: the third read shares every device with the second.
        let third = read_clean_text("n1", &text).expect("clean");
        same(&third, &plain);
        for (a, b) in second.nodes[0].devices.iter().zip(&third.nodes[0].devices) {
            assert!(Arc::ptr_eq(a, b));
        }
    }

    #[test]
    fn a_block_on_another_line_is_not_shared() {
        let text = std::fs::read_to_string(TEMPLATE).expect("fixture");
        let _ = read_clean_text("n1", text.as_bytes()).expect("clean");
        let first = read_clean_text("n1", text.as_bytes()).expect("clean");
        // Dropping the first device shifts every line below it.
        let cut = text
            .match_indices('\n')
            .map(|(i, _)| i + 1)
            .find(|&i| starts_device(&text[i..text[i..].find('\n').map_or(text.len(), |e| i + e)]))
            .expect("a second device");
        let shorter = &text[cut..];
        let got = read_clean_text("n1", shorter.as_bytes()).expect("clean");
        let plain = read_input("n1", shorter.as_bytes()).expect("text");
        same(&got, &plain);
        assert!(!Arc::ptr_eq(
            &first.nodes[0].devices[1],
            &got.nodes[0].devices[0]
        ));
    }

    #[test]
    fn anything_unusual_goes_the_ordinary_way() {
        let dev = "00:00.0 Host bridge: X\n\tControl: I/O+\n\n";
        assert!(read_clean_text("n", dev.as_bytes()).is_some());
        // A prompt above the output, a cut last line, a pdsh prefix, an lspci message
        // between devices, NUL bytes, nothing at all.
        for bad in [
            format!("$ sudo lspci -vvv\n{dev}"),
            dev.trim_end().to_string(),
            format!("n1: {dev}"),
            format!("{dev}lspci: Unable to load libkmod resources\n{dev}"),
            format!("{dev}\0\n"),
            String::new(),
        ] {
            assert!(read_clean_text("n", bad.as_bytes()).is_none(), "{bad:?}");
        }
    }

    /// A host's text read through the demultiplexer's column-0 lines gives what the line
    /// walk gives, clean or not (a long line, a prompt, an indented first line, ...).
    #[test]
    fn host_text_reads_as_the_line_walk_does() {
        let server = std::fs::read_to_string(TEMPLATE).expect("fixture");
        let dev = "00:00.0 Host bridge: X\n\tControl: I/O+\n\n";
        let long = format!(
            "{dev}00:01.0 Host bridge: Y\n\t{}\n",
            "x".repeat(MAX_LINE_LEN)
        );
        let wrapped = format!("{dev}00:01.0 bridge without a colon\n00:02.0 Host bridge: Z\n");
        // More devices than `MAX_HEADS`: the text is walked instead.
        let many = (0..=super::super::heads::MAX_HEADS)
            .map(|i| {
                format!(
                    "{:02x}:{:02x}.{} Host bridge: X\n",
                    i >> 8,
                    (i >> 3) & 31,
                    i & 7
                )
            })
            .collect::<String>();
        let cases = [
            server.clone(),
            server.replace("\n\n", "\n \n"),
            dev.to_string(),
            long,
            wrapped,
            format!("$ sudo lspci -vvv\n{dev}"),
            format!("\t{dev}"),
            format!("\n{dev}"),
            format!("n1: {dev}"),
            format!("{dev}lspci: Unable to load libkmod resources\n{dev}"),
            format!("{dev}\0\n"),
            dev.trim_end().to_string(),
            String::new(),
            many,
        ];
        // The server and `dev` are the clean case, the long line is not.
        let mut clean = Vec::new();
        for (i, text) in cases.iter().enumerate() {
            let heads = super::super::heads::of_text(text.as_bytes());
            // Twice, so that the second reads through the memo's kept blocks.
            for _ in 0..2 {
                let walked = read_clean_text("n", text.as_bytes());
                let host = read_host_text("n", text.as_bytes(), &heads);
                match (&walked, &host) {
                    (Some(w), Some(h)) => {
                        same(h, w);
                        clean.push(i);
                    }
                    (None, None) => {}
                    _ => panic!(
                        "case {i}: walked {:?}, host {:?}",
                        walked.is_some(),
                        host.is_some()
                    ),
                }
            }
        }
        for i in [0, 2, 13] {
            assert!(clean.contains(&i), "case {i} is clean: {clean:?}");
        }
        assert!(!clean.contains(&3), "a line over MAX_LINE_LEN is not clean");
    }

    #[test]
    fn the_memo_stays_bounded() {
        let mut memo = Memo::default();
        let mut kept = 0;
        for i in 0..200_000u32 {
            let text = format!(
                "00:00.0 Host bridge: X\n\tSerial: {i:08}{}\n\n",
                "x".repeat(64)
            );
            // Each block twice: the second sighting keeps it.
            for _ in 0..2 {
                assert!(memo.read("n", text.as_bytes()).is_some());
            }
            kept = kept.max(memo.entries.len());
            assert!(memo.bytes <= MEMO_BYTES, "{} bytes", memo.bytes);
            assert!(memo.seen.len() <= MAX_SEEN);
        }
        assert!(kept > 1000, "{kept} blocks kept at most");
        assert!(memo.entries.len() < 200_000);
    }

    /// Synthetic fleets of the three server dumps, every text fault kind on two nodes:
    /// each node reads the same through the memo and its templates as through the ordinary
    /// parser, and most blocks that are not repeats are derived, not parsed.
    #[test]
    fn derived_devices_are_the_parsed_ones_on_synthetic_fleets() {
        use crate::synth::{FaultCounts, FaultKind, Synth, SynthOptions};
        for dump in [
            "hpe-cray-xd665-0EA228FAAE-vvnn.txt",
            "gigabyte-g291-280-C9D3376115-vvnn.txt",
            "gigabyte-g242-z11-DEF4067C8E-vvnn.txt",
        ] {
            let path = format!(
                "{}/../../tests/data/gpu-servers/{dump}",
                env!("CARGO_MANIFEST_DIR")
            );
            let template = std::fs::read_to_string(&path).expect("fixture");
            let mut faults = FaultCounts::none();
            // Every kind lspci text can carry (a BIOS version needs a snapshot's DMI).
            for kind in FaultKind::ALL.into_iter().filter(|k| *k != FaultKind::Bios) {
                faults.set(kind, 2);
            }
            let opts = SynthOptions {
                nodes: 24,
                seed: 5,
                faults,
                prefix: "n".into(),
            };
            let synth = Synth::new(dump, &template, &opts).expect("template");
            let mut memo = Memo::default();
            for i in 0..synth.len() {
                let mut text = Vec::new();
                synth.write_node(i, &mut text).expect("write");
                let name = synth.node_name(i).expect("name");
                let got = memo.read(name, &text).expect("clean");
                same(&got, &read_input(name, &text[..]).expect("text"));
            }
            assert!(
                memo.templates.derived >= synth.len() as u64,
                "{dump}: {} blocks derived",
                memo.templates.derived
            );
        }
    }

    /// One-line changes of every kind to lines all over a real server's blocks: whatever
    /// the memo does with them (derive or parse), the device is the parsed one.
    #[test]
    fn any_one_line_change_reads_like_a_parse() {
        let text = std::fs::read_to_string(TEMPLATE).expect("fixture");
        let starts: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .filter(|&i| i < text.len() && starts_device(text[i..].lines().next().unwrap_or("")))
            .chain(std::iter::once(text.len()))
            .collect();
        // Value changes (a flag flipped, a digit changed) tried and derived.
        let (mut values, mut derived) = (0, 0);
        for (b, w) in starts.windows(2).enumerate() {
            let block = &text[w[0]..w[1]];
            let lines: Vec<&str> = block.split_inclusive('\n').collect();
            let mut memo = Memo::default();
            assert!(memo.read("n", block.as_bytes()).is_some());
            for i in (1..lines.len()).filter(|i| (i + b) % 6 == 0) {
                let line = lines[i].trim_end_matches('\n');
                let body = line.trim_start_matches('\t');
                let indent = &line[..line.len() - body.len()];
                let flipped = line
                    .replacen('+', "\u{1}", 1)
                    .replacen('-', "+", 1)
                    .replacen('\u{1}', "-", 1);
                let digit = line.replacen(
                    |c: char| c.is_ascii_digit(),
                    if line.contains('7') { "3" } else { "7" },
                    1,
                );
                let mut variants = vec![
                    (true, flipped),
                    (true, digit),
                    (false, format!("{line} Extra+")),
                    (false, format!("{indent}Garbage line: x")),
                    (
                        false,
                        format!(
                            "{indent}Capabilities: [e0] Vendor Specific Information: Len=08 <?>"
                        ),
                    ),
                ];
                if i % 3 == 0 {
                    variants.push((false, format!("\t{line}")));
                    variants.push((false, String::new()));
                    variants.push((false, format!("{line}\n{line}")));
                }
                for (value, v) in variants {
                    if v == line {
                        continue;
                    }
                    let mut changed: Vec<&str> = lines.clone();
                    let v = if v.is_empty() { v } else { format!("{v}\n") };
                    changed[i] = &v;
                    let changed = changed.concat();
                    let plain = read_input("n", changed.as_bytes()).expect("text");
                    let before = memo.templates.derived;
                    if let Some(got) = memo.read("n", changed.as_bytes()) {
                        same(&got, &plain);
                    }
                    if value {
                        values += 1;
                        derived += memo.templates.derived - before;
                    }
                }
            }
        }
        // Most value changes derive (not those of identity lines or repeated keys).
        eprintln!("{derived} of {values} value changes derived");
        assert!(
            derived * 3 > values * 2,
            "{derived} of {values} value changes derived"
        );
    }
}
