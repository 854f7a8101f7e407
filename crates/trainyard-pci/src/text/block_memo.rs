//! Parsing a piece of input device block by device block, with a memo of each block's
//! rendered output.
//!
//! Real inputs repeat whole device blocks verbatim: a fleet's `-vvv` dumps repeat most
//! devices (same device, same address, same registers) on every node, and a benchmark that
//! repeats a corpus repeats all of them. A block here starts at a line that
//! [`starts_device`] right after a blank line (how `lspci -v` separates devices; see
//! [`Blocks`]) and runs to the next such line. Without `pdsh` prefixes it parses on its
//! own, the same wherever it stands (the rule pieces are cut by), so what the caller renders
//! from its devices is a pure function of the block's bytes, as long as the rendering does
//! not use the devices' position ([`Device::line`]). A block seen before then costs one
//! comparison and a copy of the rendered bytes instead of parsing its lines: repeated input
//! repeats in order, so the block is first compared with the entry after the last one found
//! (whose length says where the block ends), and only otherwise found and hashed.
//!
//! Only blocks that parsed into at least one device with no errors and no diagnostics are
//! remembered; anything else is parsed every time, so every error and diagnostic keeps its
//! own line number (a hit adds the block's stored line count to the running number). Hits
//! compare the whole block, so a hash collision costs a comparison, never a wrong answer.
//!
//! Memory is bounded per memo (one per worker thread): past [`MAX_ENTRIES`] entries or
//! [`MAX_BYTES`] of blocks plus rendered output it starts over empty. On input whose blocks
//! never repeat (say 10 GB of distinct devices), every block is parsed as without the memo
//! and additionally compared with the guessed entry (up to the first differing byte),
//! hashed, and copied into the memo with its output (about three times the block's bytes
//! copied); the memo starts over every [`MAX_BYTES`] of that.

use super::parallel::Piece;
use super::parser::{starts_device, TextParser};
use super::reader::{line_text, LspciReader, MAX_LINE_LEN};
use crate::device::Device;

/// Most entries kept before starting over.
pub(crate) const MAX_ENTRIES: usize = 1 << 16;
/// Most bytes (blocks and their rendered output) kept before starting over.
pub(crate) const MAX_BYTES: usize = 16 << 20;

/// One remembered block: `bytes[start..start + block_len]` is the block, the next
/// `out_len` bytes its rendered output.
#[derive(Clone, Copy)]
struct Entry {
    hash: u64,
    start: usize,
    block_len: usize,
    out_len: usize,
    lines: usize,
    devices: usize,
}

/// What the memo knows about a block.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Hit<'a> {
    /// The rendered output of its devices.
    pub(crate) rendered: &'a [u8],
    /// Its number of lines.
    pub(crate) lines: usize,
    /// Its number of devices.
    pub(crate) devices: usize,
}

/// A bounded memo of device blocks and their rendered output. See the [module docs](self).
pub(crate) struct BlockMemo {
    /// `1 + entry index` per slot, 0 for empty; a power of two, at least twice
    /// `max_entries`, allocated on first insert.
    table: Vec<u32>,
    entries: Vec<Entry>,
    bytes: Vec<u8>,
    max_entries: usize,
    max_bytes: usize,
    /// The hash function; tests replace it to force collisions.
    hasher: fn(&[u8]) -> u64,
    /// The entry after the last one found or added: repeated input tends to repeat in
    /// order (the next node lists its devices in the same order), so the next block is
    /// compared with it first, which saves hashing the block.
    next: usize,
    /// Lookups, hits (of which `predicted` without hashing) and starts over, for the
    /// benchmark notes (`TRAINYARD_LOG=trainyard_pci=debug`).
    pub(crate) lookups: u64,
    pub(crate) hits: u64,
    pub(crate) predicted: u64,
    pub(crate) resets: u64,
}

/// What [`BlockMemo::lookup`] found.
pub(crate) enum Lookup<'a> {
    /// The block is remembered.
    Hit(Hit<'a>),
    /// It is not; its hash, for [`BlockMemo::insert`].
    Miss(u64),
}

impl Drop for BlockMemo {
    fn drop(&mut self) {
        tracing::debug!(
            lookups = self.lookups,
            hits = self.hits,
            predicted = self.predicted,
            resets = self.resets,
            "block memo"
        );
    }
}

impl Default for BlockMemo {
    fn default() -> Self {
        Self::with_limits(MAX_ENTRIES, MAX_BYTES, hash_block)
    }
}

impl BlockMemo {
    /// A memo that starts over past `max_entries` entries or `max_bytes` bytes, hashing
    /// blocks with `hasher`.
    pub(crate) fn with_limits(
        max_entries: usize,
        max_bytes: usize,
        hasher: fn(&[u8]) -> u64,
    ) -> Self {
        Self {
            table: Vec::new(),
            entries: Vec::new(),
            bytes: Vec::new(),
            max_entries: max_entries.max(1),
            max_bytes,
            hasher,
            next: 0,
            lookups: 0,
            hits: 0,
            predicted: 0,
            resets: 0,
        }
    }

    /// The hash of `block`.
    #[inline]
    pub(crate) fn hash(&self, block: &[u8]) -> u64 {
        (self.hasher)(block)
    }

    fn mask(&self) -> usize {
        self.table.len() - 1
    }

    /// The entry after the last one found or added, if `rest` starts with its block and
    /// `ends_block(its length)` says a block ends there; with the block's length. No hash,
    /// and no search for where the block ends: the entry tells.
    #[inline]
    pub(crate) fn predicted(
        &mut self,
        rest: &[u8],
        ends_block: impl FnOnce(usize) -> bool,
    ) -> Option<(Hit<'_>, usize)> {
        let e = *self.entries.get(self.next)?;
        let block = rest.get(..e.block_len)?;
        if block != &self.bytes[e.start..e.start + e.block_len] || !ends_block(e.block_len) {
            return None;
        }
        self.lookups += 1;
        self.hits += 1;
        self.predicted += 1;
        self.next += 1;
        Some((self.hit(e), e.block_len))
    }

    /// What is remembered about `block`, looked up by its hash.
    #[inline]
    pub(crate) fn lookup(&mut self, block: &[u8]) -> Lookup<'_> {
        let hash = self.hash(block);
        match self.get(hash, block) {
            Some(index) => Lookup::Hit(self.hit(self.entries[index])),
            None => Lookup::Miss(hash),
        }
    }

    fn hit(&self, e: Entry) -> Hit<'_> {
        let out = e.start + e.block_len;
        Hit {
            rendered: &self.bytes[out..out + e.out_len],
            lines: e.lines,
            devices: e.devices,
        }
    }

    /// The index of the entry for `block` (whose hash is `hash`), if remembered.
    fn get(&mut self, hash: u64, block: &[u8]) -> Option<usize> {
        self.lookups += 1;
        if self.table.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut pos = (hash >> 32) as usize & mask;
        loop {
            let slot = self.table[pos];
            if slot == 0 {
                return None;
            }
            let e = self.entries[slot as usize - 1];
            if e.hash == hash
                && e.block_len == block.len()
                && &self.bytes[e.start..e.start + e.block_len] == block
            {
                self.hits += 1;
                self.next = slot as usize;
                return Some(slot as usize - 1);
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Remembers that `block` (whose hash is `hash`, not remembered yet) spans `lines`
    /// lines and holds `devices` devices that render as `rendered`.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        block: &[u8],
        rendered: &[u8],
        lines: usize,
        devices: usize,
    ) {
        let add = block.len() + rendered.len();
        if add > self.max_bytes / 16 {
            return; // one huge block is not worth keeping
        }
        if self.entries.len() >= self.max_entries || self.bytes.len() + add > self.max_bytes {
            self.clear();
        }
        if self.table.is_empty() {
            self.table = vec![0; (self.max_entries * 2).next_power_of_two()];
        }
        self.entries.push(Entry {
            hash,
            start: self.bytes.len(),
            block_len: block.len(),
            out_len: rendered.len(),
            lines,
            devices,
        });
        self.bytes.extend_from_slice(block);
        self.bytes.extend_from_slice(rendered);
        // Fits u32: the table holds at most `max_entries` (a few tens of thousands).
        let index = self.entries.len() as u32;
        let mask = self.mask();
        let mut pos = (hash >> 32) as usize & mask;
        while self.table[pos] != 0 {
            pos = (pos + 1) & mask;
        }
        self.table[pos] = index;
        self.next = self.entries.len();
    }

    fn clear(&mut self) {
        self.table.fill(0);
        self.entries.clear();
        self.bytes.clear();
        self.next = 0;
        self.resets += 1;
    }
}

/// Hash of a whole block: four independent word-at-a-time lanes, so hashing runs at several
/// bytes per cycle (one lane's multiply chain would limit it to 8 bytes per multiply
/// latency), then the lanes and the tail folded together.
pub(crate) fn hash_block(block: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let word = |c: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        u64::from_le_bytes(w)
    };
    let mut lanes = [
        0x243f_6a88_85a3_08d3 ^ block.len() as u64,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    ];
    let mut chunks = block.chunks_exact(32);
    for c in &mut chunks {
        for (i, lane) in lanes.iter_mut().enumerate() {
            *lane = (lane.rotate_left(5) ^ word(&c[i * 8..i * 8 + 8])).wrapping_mul(K);
        }
    }
    let mut h = crate::fxhash::hash_bytes(lanes[0], chunks.remainder());
    for lane in &lanes[1..] {
        h = (h.rotate_left(5) ^ lane).wrapping_mul(K);
    }
    h ^ (h >> 29)
}

/// Whether `line` (without its newline) starts a device: [`starts_device`] on the line's
/// text, as the reader would see it (too long or binary: no), with the common shapes
/// (`BB:DD.F Title: ...` and `DDDD:BB:DD.F Title: ...` in ASCII) decided without building
/// strings; the full rule costs hundreds of instructions per line.
pub(crate) fn is_device_start(line: &[u8]) -> bool {
    if let Some(answer) = quick_device_start(line) {
        return answer;
    }
    line.len() <= MAX_LINE_LEN && line_text(line).is_some_and(|t| starts_device(&t))
}

/// [`is_device_start`] for the shapes lspci prints, `None` for anything else.
fn quick_device_start(line: &[u8]) -> Option<bool> {
    match line.first() {
        // Indented (a leading blank also makes the address unreadable), or blank.
        Some(b'\t' | b' ') | None => return Some(false),
        _ => {}
    }
    let hex = |i: usize| line.get(i).is_some_and(u8::is_ascii_hexdigit);
    let at = |i: usize, c: u8| line.get(i) == Some(&c);
    // `BB:DD.F` after `skip` bytes of domain: the device number is at most 1f, the
    // function at most 7.
    let bdf = |skip: usize| {
        hex(skip)
            && hex(skip + 1)
            && at(skip + 2, b':')
            && (at(skip + 3, b'0') || at(skip + 3, b'1'))
            && hex(skip + 4)
            && at(skip + 5, b'.')
            && line
                .get(skip + 6)
                .is_some_and(|c| (b'0'..=b'7').contains(c))
    };
    let address_len = if bdf(0) {
        7
    } else if hex(0) && hex(1) && hex(2) && hex(3) && at(4, b':') && bdf(5) {
        12
    } else {
        return None;
    };
    if !at(address_len, b' ')
        || line.len() > MAX_LINE_LEN
        || !line.is_ascii()
        || memchr::memchr(0, line).is_some()
    {
        return None;
    }
    // ASCII without NUL: the text is the line. The address ends at the space, and the title
    // is the rest without surrounding whitespace (`char::is_whitespace` in ASCII).
    let blank = |c: &u8| matches!(c, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ');
    let rest = &line[address_len..];
    let from = rest.iter().position(|c| !blank(c)).unwrap_or(rest.len());
    let to = rest.iter().rposition(|c| !blank(c)).map_or(from, |i| i + 1);
    let title = &rest[from..to.max(from)];
    Some(title.is_empty() || memchr::memchr(b':', title).is_some() || title.starts_with(b"Class"))
}

/// Where memo blocks start: lines that start a device ([`is_device_start`]) right after a
/// blank line, as `lspci -v` separates devices, and the start of a piece.
///
/// Finding blank lines is a vector search for `\n\n`, where visiting every line to look for
/// device starts cost more than the rest of a memo hit. Device starts that follow no blank
/// line (plain `lspci` output) stay inside a block, which then holds several devices: still
/// a piece of input that parses on its own, remembered whole if it repeats.
struct Blocks<'a> {
    bytes: &'a [u8],
    blank_line: memchr::memmem::Finder<'static>,
}

impl<'a> Blocks<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            blank_line: memchr::memmem::Finder::new(b"\n\n"),
        }
    }

    /// Whether a block starts at `at` (a line start after 0), or the bytes end there.
    fn ends_block(&self, at: usize) -> bool {
        let b = self.bytes;
        at == b.len()
            || (at >= 2
                && b[at - 2] == b'\n'
                && b[at - 1] == b'\n'
                && b.get(at) != Some(&b'\n')
                && self.device_line_at(at))
    }

    /// Whether the line at `at` starts a device.
    fn device_line_at(&self, at: usize) -> bool {
        let rest = self.bytes.get(at..).unwrap_or_default();
        is_device_start(&rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())])
    }

    /// The end of the block that starts at `from`: the next block start, or the end.
    fn end_of(&self, from: usize) -> usize {
        let b = self.bytes;
        let mut search = from;
        while let Some(i) = self.blank_line.find(&b[search..]) {
            // The line after the run of blank lines this one begins.
            let mut start = search + i + 2;
            while b.get(start) == Some(&b'\n') {
                start += 1;
            }
            if start >= b.len() {
                break;
            }
            if self.device_line_at(start) {
                return start;
            }
            search = start;
        }
        b.len()
    }
}

/// Parses one piece (which starts at line `lines_before + 1`) block by block, rendering
/// each device with `render` into `output`, through `memo` (see the [module docs](self)).
/// Returns the piece and the number of its last line, as [`super::parallel`]'s plain piece
/// parser does for the same bytes. The memo is used only when `pdsh` is `Some(false)`.
pub(crate) fn parse_piece(
    bytes: &[u8],
    lines_before: usize,
    pdsh: Option<bool>,
    fields_only: bool,
    memo: &mut BlockMemo,
    output: Vec<u8>,
    render: &impl Fn(&Device, &mut Vec<u8>),
) -> (Piece<Vec<u8>>, usize) {
    let mut parser = if fields_only {
        TextParser::fields_only()
    } else {
        TextParser::new()
    };
    parser.set_pdsh(pdsh);
    let mut piece = Piece {
        output,
        devices: 0,
        errors: Vec::new(),
        diagnostics: Vec::new(),
    };
    let mut line_no = lines_before;
    let use_memo = pdsh == Some(false);
    let blocks = Blocks::new(bytes);
    let mut start = 0;
    while start < bytes.len() {
        // A block must start at a device (the input's first block may not).
        let memo_ok = use_memo && (start > 0 || blocks.device_line_at(0));
        // Repeated input repeats in order: first try the entry after the last one found.
        if memo_ok {
            let hit = memo.predicted(&bytes[start..], |len| blocks.ends_block(start + len));
            if let Some((hit, len)) = hit {
                piece.output.extend_from_slice(hit.rendered);
                piece.devices += hit.devices;
                line_no += hit.lines;
                start += len;
                continue;
            }
        }
        let end = blocks.end_of(start);
        let block = &bytes[start..end];
        start = end;
        // A block without its newline ends the input: it parses with a `Truncated` error.
        let memo_hash = if memo_ok && block.ends_with(b"\n") {
            match memo.lookup(block) {
                Lookup::Hit(hit) => {
                    piece.output.extend_from_slice(hit.rendered);
                    piece.devices += hit.devices;
                    line_no += hit.lines;
                    continue;
                }
                Lookup::Miss(hash) => Some(hash),
            }
        } else {
            None
        };
        let lines_at_start = line_no;
        let out_start = piece.output.len();
        let (p, devices) = parse_block(parser, block, &mut line_no, &mut piece, render);
        parser = p;
        if let (Some(hash), Some(devices)) = (memo_hash, devices) {
            let rendered = &piece.output[out_start..];
            memo.insert(hash, block, rendered, line_no - lines_at_start, devices);
        }
    }
    (piece, line_no)
}

/// Parses `block` with `parser` (numbering its lines after `line_no`, which it advances)
/// into `piece`. Returns the parser, and the number of devices when there were some and no
/// errors or diagnostics (only then may the block be remembered).
fn parse_block(
    mut parser: TextParser,
    block: &[u8],
    line_no: &mut usize,
    piece: &mut Piece<Vec<u8>>,
    render: &impl Fn(&Device, &mut Vec<u8>),
) -> (TextParser, Option<usize>) {
    parser.set_line_no(*line_no);
    let mut reader = LspciReader::with_parser(block, parser);
    let (mut devices, mut errors) = (0, 0);
    for item in reader.by_ref() {
        match item {
            Ok(dev) => {
                render(&dev, &mut piece.output);
                devices += 1;
            }
            Err(e) => {
                piece.errors.push(e);
                errors += 1;
            }
        }
    }
    let diagnostics = reader.take_diagnostics();
    let clean = (devices > 0 && errors == 0 && diagnostics.is_empty()).then_some(devices);
    piece.devices += devices;
    piece.diagnostics.extend(diagnostics);
    let parser = reader.into_parser();
    *line_no = parser.line_no();
    (parser, clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `m` remembers about `block`: output, lines, devices.
    fn found(m: &mut BlockMemo, block: &[u8]) -> Option<(Vec<u8>, usize, usize)> {
        if let Some((h, len)) = m.predicted(block, |len| len == block.len()) {
            assert_eq!(len, block.len());
            return Some((h.rendered.to_vec(), h.lines, h.devices));
        }
        match m.lookup(block) {
            Lookup::Hit(h) => Some((h.rendered.to_vec(), h.lines, h.devices)),
            Lookup::Miss(hash) => {
                assert_eq!(hash, m.hash(block));
                None
            }
        }
    }

    fn add(m: &mut BlockMemo, block: &[u8], out: &[u8], lines: usize, devices: usize) {
        let hash = m.hash(block);
        m.insert(hash, block, out, lines, devices);
    }

    #[test]
    fn remembers_and_compares_whole_blocks() {
        // Every block hashes alike: only the comparison tells them apart.
        let mut m = BlockMemo::with_limits(16, 1 << 20, |_| 7);
        assert!(found(&mut m, b"block a\n").is_none());
        add(&mut m, b"block a\n", b"out a", 1, 1);
        add(&mut m, b"block b\n", b"out b", 2, 1);
        add(&mut m, b"block\n", b"out c", 3, 2);
        let want = |o: &[u8], l, d| Some((o.to_vec(), l, d));
        assert_eq!(found(&mut m, b"block b\n"), want(b"out b", 2, 1));
        assert_eq!(found(&mut m, b"block a\n"), want(b"out a", 1, 1));
        assert_eq!(found(&mut m, b"block\n"), want(b"out c", 3, 2));
        assert!(found(&mut m, b"block c\n").is_none());
        assert!(found(&mut m, b"block a").is_none());
        assert_eq!(m.predicted, 0);
        // In the order they were added: each is the entry after the previous one.
        for (block, out) in [(&b"block a\n"[..], &b"out a"[..]), (b"block b\n", b"out b")] {
            assert_eq!(found(&mut m, block).map(|f| f.0), Some(out.to_vec()));
        }
        assert_eq!(m.predicted, 1);
        // A wrong guess falls back to the table.
        assert_eq!(found(&mut m, b"block a\n"), want(b"out a", 1, 1));
        assert_eq!(m.predicted, 1);
        assert_eq!(m.hits, 6);
    }

    #[test]
    fn starts_over_at_its_bounds() {
        let mut m = BlockMemo::with_limits(4, 1 << 20, hash_block);
        for i in 0..6 {
            let b = format!("block {i}\n");
            add(&mut m, b.as_bytes(), b"x", 1, 1);
        }
        assert_eq!(m.resets, 1);
        assert_eq!(m.entries.len(), 2);
        assert!(found(&mut m, b"block 0\n").is_none());
        assert!(found(&mut m, b"block 5\n").is_some());

        let mut m = BlockMemo::with_limits(1000, 160, hash_block);
        add(&mut m, b"0123456789", b"", 1, 1); // 10 bytes: kept
        assert!(found(&mut m, b"0123456789").is_some());
        add(&mut m, &[b'x'; 11], b"", 1, 1); // over a sixteenth of the bound: not kept
        assert!(found(&mut m, &[b'x'; 11]).is_none());
        for i in 0..20u8 {
            add(&mut m, &[i; 10], b"", 1, 1);
        }
        assert!(m.resets >= 1);
        assert!(m.bytes.len() <= 160);
        assert!(found(&mut m, &[19; 10]).is_some());
    }

    /// `parse_piece` through `memo` against plain parsing of the same bytes.
    fn check_piece(bytes: &[u8], memo: &mut BlockMemo) {
        let render = |d: &Device, out: &mut Vec<u8>| {
            let mut d = d.clone();
            d.line = None;
            out.extend_from_slice(format!("{d:?}\n").as_bytes());
        };
        let mut reader = LspciReader::fields_only(bytes).piece(10, Some(false));
        let (mut want, mut errors) = (Vec::new(), Vec::new());
        for item in reader.by_ref() {
            match item {
                Ok(d) => render(&d, &mut want),
                Err(e) => errors.push(e),
            }
        }
        let (piece, end) = parse_piece(bytes, 10, Some(false), true, memo, Vec::new(), &render);
        assert!(piece.output == want, "output differs");
        assert_eq!(piece.errors, errors);
        assert_eq!(piece.diagnostics, reader.take_diagnostics());
        assert_eq!(end, reader.parser().line_no());
    }

    #[test]
    fn pieces_through_colliding_and_small_memos_parse_as_without() {
        let a = &b"00:01.0 PCI bridge: X\n\tControl: I/O+ Mem+\n\tBus: primary=00, secondary=01, subordinate=01, sec-latency=0\n\n"[..];
        let b = &b"00:02.0 VGA compatible controller: Y\n\tControl: I/O- Mem+\n\n"[..];
        let bad = &b"00:02.0 VGA compatible controller: Y\n\tControl: I/O- \x00\n\n"[..];
        let stray = &b"00:03.0 Host bridge: Z\n\tControl: I/O+\n\nstray\n\n"[..];
        let mut bytes = Vec::new();
        for _ in 0..4 {
            for block in [a, b, bad, a, stray, b, b] {
                bytes.extend_from_slice(block);
            }
        }
        // Every block hashes alike, and the memo starts over at each new entry.
        let mut memo = BlockMemo::with_limits(1, 1 << 20, |_| 0);
        check_piece(&bytes, &mut memo);
        check_piece(&bytes, &mut memo);
        assert!(memo.hits > 0 && memo.resets > 0);
        let mut memo = BlockMemo::default();
        check_piece(&bytes, &mut memo);
        check_piece(&bytes[..bytes.len() - 1], &mut memo);
        // Blocks with an error or a diagnostic are parsed every time: remembered are `a`,
        // `b`, and `b` without its blank line (the end of the shortened input).
        assert_eq!(memo.entries.len(), 3);
        assert!(memo.predicted > 0);
    }

    #[test]
    fn blocks_start_at_devices_after_blank_lines() {
        let text = b"noise\n00:00.0 Host bridge: X\n\tControl: I/O+\n\n\n\
                     00:01.0 not a device title\n\n0000:00:02.0 VGA: Y\n00:03.0 Z: W\n\n\n";
        let at = |s: &str| {
            text.windows(s.len())
                .position(|w| w == s.as_bytes())
                .unwrap_or(usize::MAX)
        };
        let blocks = Blocks::new(text);
        assert_eq!(blocks.end_of(0), at("0000:00:02.0"));
        assert_eq!(blocks.end_of(at("0000:00:02.0")), text.len());
        let ends: Vec<usize> = (0..=text.len()).filter(|&i| blocks.ends_block(i)).collect();
        assert_eq!(ends, vec![at("0000:00:02.0"), text.len()]);
        let lead = b"\n\n00:00.0 Host bridge: X\n";
        assert_eq!(Blocks::new(lead).end_of(0), 2);
        assert!(Blocks::new(lead).ends_block(2));
    }

    #[test]
    fn quick_device_start_agrees_with_the_full_rule() {
        let full =
            |l: &[u8]| l.len() <= MAX_LINE_LEN && line_text(l).is_some_and(|t| starts_device(&t));
        let mut lines: Vec<Vec<u8>> = [
            &b"00:00.0 Host bridge: Intel"[..],
            b"0000:17:00.0 3D controller: NVIDIA",
            b"17:1f.7 Class 0604",
            b"17:20.0 Bridge: X",
            b"17:00.8 Bridge: X",
            b"17:00.0 not a title",
            b"17:00.0 ",
            b"17:00.0 \r",
            b"17:00.0 \t\x0b: x \r",
            b"17:00.0\tBridge: X",
            b"17:00.0 Bridge: \x00",
            b"17:00.0 Bridge: \xff\xfe",
            b"17:00.0 Br\xc3\xa9dge: X",
            b"ABCD:EF:1A.3 Ethernet: Y",
            b"10000:00:02.0 X: Y",
            b"00:01.0/01:00.0 PCI bridge: X",
            b"00: 86 80 3c 0d",
            b"\t00:00.0 Host bridge: X",
            b" 00:00.0 Host bridge: X",
            b"",
        ]
        .iter()
        .map(|l| l.to_vec())
        .collect();
        let mut long = b"00:00.0 Host bridge: ".to_vec();
        long.resize(MAX_LINE_LEN + 1, b'x');
        lines.push(long);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data");
        for sub in ["vvv", "gpu-servers", "faulty", "hex"] {
            for e in std::fs::read_dir(root.join(sub))
                .into_iter()
                .flatten()
                .flatten()
            {
                let bytes = std::fs::read(e.path()).unwrap_or_default();
                lines.extend(bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec));
            }
        }
        assert!(lines.len() > 10_000, "corpus not found");
        for l in &lines {
            if let Some(quick) = quick_device_start(l) {
                assert_eq!(quick, full(l), "{}", String::from_utf8_lossy(l));
            }
            assert_eq!(
                is_device_start(l),
                full(l),
                "{}",
                String::from_utf8_lossy(l)
            );
        }
    }
}
