//! The line tokenizer: rendered register lines → flat `(key, value)` settings.
//!
//! Both front ends (text parser and binary decoder) store a device as the lines lspci prints;
//! this module is the one place that turns lines into settings, so the two agree by
//! construction. The rules (documented with examples in `docs/fields.md`):
//!
//! * A line `Reg: content` opens register `Reg`; indented continuation lines extend it. A
//!   continuation that starts with a single CamelCase word and a colon (`AtomicOpsCap:`)
//!   opens a new register, as older lspci versions print it on its own line.
//! * `content` splits into chunks at top-level `,` and `;`. In a chunk, `Name+`/`Name-` is a
//!   flag (`DevCtl.RlxdOrd` = `-`), `Name=value` a setting (`Status.DEVSEL` = `fast`), and
//!   `Some Name: value` a named sub-setting (`LnkCtl2.Target Link Speed` = `8GT/s`). Other
//!   words form a phrase `Name value...` (`DevCtl.MaxReadReq` = `512 bytes`). A phrase that
//!   does not start with a name continues the previous setting (`0dB preshoot`) or, if it is
//!   the first, is the register's own value (`MSI.Address` = `00000000fee0e000`).
//! * Link annotations are split off: `Speed 2.5GT/s (downgraded)` gives `LnkSta.Speed` =
//!   `2.5GT/s` and `LnkSta.Speed.Note` = `downgraded`; `(ok)` (printed only by some lspci
//!   versions) is dropped so keys compare across versions.
//! * Registers of capabilities with generic register names carry the capability's tag
//!   (`PM.Status.NoSoftRst`, `MSI-X.Enable`); see [`crate::caps`].
//! * Keys are unique within a device: a repeat gets `#2`, `#3`...

use std::cell::RefCell;
use std::fmt::Write as _;

use crate::caps;
use crate::device::{Capability, Device, Field, Fields};

mod memo;
pub(crate) mod sink;

use sink::Sink;

/// Header registers whose whole content is one value (addresses, names, sizes).
const OPAQUE_REGISTERS: &[&str] = &[
    "Subsystem",
    "Physical Slot",
    "Expansion ROM",
    "I/O behind bridge",
    "Memory behind bridge",
    "Prefetchable memory behind bridge",
    "Kernel driver in use",
    "Kernel modules",
    "NUMA node",
    "IOMMU group",
    "Device tree node",
    "Flags",
    "Product Name",
    "Interrupt",
    "Module",
];

/// Phrases whose name is more than one word.
const MULTI_WORD_NAMES: &[&str] = &["Exit Latency", "LN System CLS", "PME ReqID"];

/// Derives the flat settings of a device from its header and capability lines, as owned
/// pairs. [`Device::derive_fields`] stores the same settings without a `String` each.
pub fn device_fields(dev: &Device) -> Vec<Field> {
    derive(dev).to_vec()
}

thread_local! {
    /// Buffers and the line memo, reused from device to device: after the first few
    /// devices, deriving fields allocates only the device's own [`Fields`].
    static SCRATCH: RefCell<(Tokenizer, FieldBuilder)> = RefCell::default();
}

/// Derives the flat settings of a device (see the module docs for the rules).
pub fn derive(dev: &Device) -> Fields {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut s) => {
            let (tk, b) = &mut *s;
            b.derive(tk, dev)
        }
        // Only reachable if deriving re-entered itself; a fresh scratch is as good.
        Err(_) => FieldBuilder::default().derive(&mut Tokenizer::default(), dev),
    })
}

thread_local! {
    /// The tokenizer of the last fields-only parser that ended on this thread: the next one
    /// starts with its memo warm (a parallel parse starts a parser per piece).
    static SPARE_TOKENIZER: std::cell::Cell<Option<Box<Tokenizer>>> =
        const { std::cell::Cell::new(None) };
}

impl Tokenizer {
    /// This thread's spare tokenizer, or a new one.
    pub(crate) fn take_spare() -> Box<Tokenizer> {
        SPARE_TOKENIZER
            .try_with(|t| t.take())
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Keeps `t` for the thread's next [`Tokenizer::take_spare`].
    pub(crate) fn give_back(t: Box<Tokenizer>) {
        let _ = SPARE_TOKENIZER.try_with(|s| s.set(Some(t)));
    }
}

/// What tokenizing shares across devices: per-line buffers and the line memo. One per
/// thread (or per parser); a [`FieldBuilder`] per device being read.
#[derive(Default)]
pub(crate) struct Tokenizer {
    tmp: Tmp,
    memo: memo::Memo,
    /// The memo key of the line being tokenized.
    key: Vec<u8>,
}

impl Tokenizer {
    /// Memo lookups and hits so far.
    pub(crate) fn memo_stats(&self) -> (u64, u64) {
        (self.memo.lookups, self.memo.hits)
    }
}

/// Tokenizer state carried from line to line within a block (header or one capability).
#[derive(Default)]
struct BlockState {
    /// Key of the register the block's next continuation line extends.
    cur: String,
    /// Whether there is one.
    has_cur: bool,
}

/// Derives one device's settings from its lines as they come: header lines and capability
/// blocks may interleave (see [`sink`]); each line goes through the memo.
#[derive(Default)]
pub(crate) struct FieldBuilder {
    sink: sink::Sink,
    header: BlockState,
    cap: BlockState,
    /// Key prefix of the capability being read (`MSI`, `VSEC[100]`).
    prefix: String,
    /// Its tag.
    tag: String,
    /// Whether all its registers carry the prefix.
    always: bool,
    /// The capability's part of memo keys.
    cap_key: Vec<u8>,
}

/// Memo key tags: what kind of line a key describes.
const KEY_HEADER: u8 = 0;
const KEY_CAP_LINE: u8 = 1;
const KEY_CAP_TITLE: u8 = 2;

/// Appends `s` to a memo key with its length, so that concatenated parts stay unambiguous.
fn key_part(key: &mut Vec<u8>, s: &str) {
    key.extend_from_slice(&(s.len() as u64).to_le_bytes());
    key.extend_from_slice(s.as_bytes());
}

impl FieldBuilder {
    /// Derives the settings of a whole device.
    fn derive(&mut self, tk: &mut Tokenizer, dev: &Device) -> Fields {
        self.start();
        for line in &dev.header {
            self.header_line(tk, line.depth, &line.text);
        }
        for cap in &dev.capabilities {
            self.capability(tk, cap);
            for line in &cap.lines {
                self.cap_line(tk, line.depth, &line.text);
            }
        }
        self.finish()
    }

    /// Starts a device.
    pub(crate) fn start(&mut self) {
        self.sink.reset();
        self.header.has_cur = false;
        self.cap.has_cur = false;
    }

    /// Ends the device and returns its settings.
    pub(crate) fn finish(&mut self) -> Fields {
        self.sink.take()
    }

    /// A header line (`depth` 0: a register; more: its continuation).
    pub(crate) fn header_line(&mut self, tk: &mut Tokenizer, depth: u8, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        self.sink.cap = false;
        tk.key.clear();
        tk.key.push(KEY_HEADER);
        self.line(tk, false, depth, text);
    }

    /// Starts a capability block: its title's settings, and the context of its lines.
    pub(crate) fn capability(&mut self, tk: &mut Tokenizer, cap: &Capability) {
        self.prefix.clear();
        write_capability_prefix(cap, &mut self.prefix);
        self.tag.clear();
        self.tag.push_str(&cap.tag);
        self.always = caps::is_multi_instance(&cap.tag) || !caps::registers_unprefixed(&cap.tag);
        self.cap.has_cur = false;
        self.cap_key.clear();
        key_part(&mut self.cap_key, &self.tag);
        key_part(&mut self.cap_key, &self.prefix);
        self.sink.cap = true;

        tk.key.clear();
        tk.key.push(KEY_CAP_TITLE);
        tk.key.extend_from_slice(&self.cap_key);
        tk.key.push(u8::from(cap.offset == 0));
        tk.key.extend_from_slice(cap.title.as_bytes());
        let hash = memo::Memo::hash(&tk.key);
        if let Some(hit) = tk.memo.get(hash, &tk.key) {
            self.sink.push_recorded(hit.text, hit.spans, hit.hashes);
            return;
        }
        let (from, first) = self.begin_recording();
        title_fields(cap, &self.prefix, &mut self.sink, &mut tk.tmp);
        if !self.sink.touched_old {
            let added = self.sink.added_since(from, first);
            tk.memo.insert(hash, &tk.key, added, "", false);
        }
    }

    /// A line of the current capability.
    pub(crate) fn cap_line(&mut self, tk: &mut Tokenizer, depth: u8, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        self.sink.cap = true;
        tk.key.clear();
        tk.key.push(KEY_CAP_LINE);
        tk.key.extend_from_slice(&self.cap_key);
        self.line(tk, true, depth, text);
    }

    fn begin_recording(&mut self) -> (usize, usize) {
        self.sink.line_start = self.sink.len();
        self.sink.touched_old = false;
        (self.sink.text_len(), self.sink.len())
    }

    /// Tokenizes a trimmed, non-empty line through the memo; `tk.key` holds the block part
    /// of the memo key.
    fn line(&mut self, tk: &mut Tokenizer, in_cap: bool, depth: u8, text: &str) {
        let state = if in_cap {
            &mut self.cap
        } else {
            &mut self.header
        };
        // A register line does not depend on the register before it; a continuation line
        // extends the current register, which becomes part of the key.
        if depth == 0 {
            tk.key.push(0);
        } else if state.has_cur {
            tk.key.push(2);
            key_part(&mut tk.key, &state.cur);
        } else {
            tk.key.push(1);
        }
        tk.key.extend_from_slice(text.as_bytes());
        let hash = memo::Memo::hash(&tk.key);
        if let Some(hit) = tk.memo.get(hash, &tk.key) {
            self.sink.push_recorded(hit.text, hit.spans, hit.hashes);
            state.cur.clear();
            state.cur.push_str(hit.cur);
            state.has_cur = hit.has_cur;
            return;
        }
        self.sink.line_start = self.sink.len();
        self.sink.touched_old = false;
        let (from, first) = (self.sink.text_len(), self.sink.len());
        let key_of = if in_cap {
            KeyOf::Capability {
                prefix: &self.prefix,
                tag: &self.tag,
                always: self.always,
            }
        } else {
            KeyOf::Plain
        };
        let state = if in_cap {
            &mut self.cap
        } else {
            &mut self.header
        };
        block_line(
            !in_cap,
            key_of,
            state,
            depth,
            text,
            &mut self.sink,
            &mut tk.tmp,
        );
        if !self.sink.touched_old {
            let added = self.sink.added_since(from, first);
            tk.memo
                .insert(hash, &tk.key, added, &state.cur, state.has_cur);
        }
    }
}

/// How a register name becomes the key prefix of its settings.
#[derive(Clone, Copy)]
enum KeyOf<'a> {
    /// Header registers: the name itself.
    Plain,
    /// Capability registers: `TAG.Reg` where the name alone is ambiguous.
    Capability {
        prefix: &'a str,
        tag: &'a str,
        always: bool,
    },
}

impl KeyOf<'_> {
    /// Writes the key of register `reg` into `out` (cleared first).
    fn write(self, reg: &str, out: &mut String) {
        out.clear();
        if let KeyOf::Capability {
            prefix,
            tag,
            always,
        } = self
        {
            if always || caps::register_collides(tag, reg) {
                out.push_str(prefix);
                out.push('.');
            }
        }
        out.push_str(reg);
    }
}

/// `MSI`, `PM`, or `VSEC[100]` for capabilities that can repeat.
pub fn capability_prefix(cap: &Capability) -> String {
    let mut out = String::new();
    write_capability_prefix(cap, &mut out);
    out
}

fn write_capability_prefix(cap: &Capability, out: &mut String) {
    out.push_str(&cap.tag);
    if caps::is_multi_instance(&cap.tag) {
        let _ = write!(out, "[{:x}]", cap.offset);
    }
}

/// Per-line buffers of the tokenizer.
#[derive(Default)]
struct Tmp {
    /// Register key inside one line (changes at a sibling register such as `Data:`).
    reg: String,
    /// Words of the pending phrase, as byte ranges of the content being tokenized.
    phrase: Vec<(usize, usize)>,
    /// Name of the pending sub-setting (`Completion Timeout`), when `has_sub`.
    sub: String,
    has_sub: bool,
    /// A value being assembled.
    val: String,
}

/// Fields carried by a capability's title line (`MSI: Enable+ Count=1/1`, `Express (v2) ...`).
fn title_fields(cap: &Capability, prefix: &str, sink: &mut Sink, tmp: &mut Tmp) {
    let title = cap.title.trim();
    match cap.tag.as_str() {
        "Express" => express_title(title, prefix, sink, tmp),
        "PM" => {
            if let Some(v) = title.rsplit_once("version ").map(|(_, v)| v.trim()) {
                sink.push(&[prefix, ".Version"], v);
            }
        }
        "DSN" => {
            if let Some(v) = title.strip_prefix("Device Serial Number") {
                collapse_into(v, &mut tmp.val);
                sink.push(&[prefix], &tmp.val);
            }
        }
        // A name, not a setting: identity lives in `Device::ids`, and names differ between
        // pci.ids versions.
        "SSVID" => {}
        _ => {
            if let Some((_, content)) = title.split_once(": ") {
                tokenize_content(prefix, content, sink, tmp);
            } else if cap.offset == 0 && title == "<access denied>" {
                sink.push(&["Capabilities"], title);
            }
        }
    }
}

/// `Express (v2) Root Port (Slot+), MSI 00` → `Express.Version`, `Express.Type`,
/// `Express.Slot`, `Express.MSI`.
fn express_title(title: &str, prefix: &str, sink: &mut Sink, tmp: &mut Tmp) {
    let mut rest = title.strip_prefix("Express").unwrap_or(title).trim_start();
    if let Some(r) = rest.strip_prefix("(v") {
        if let Some((v, r2)) = r.split_once(')') {
            sink.push(&[prefix, ".Version"], v);
            rest = r2.trim_start();
        }
    }
    let (kind, msi) = match rest.rsplit_once(", MSI ") {
        Some((k, m)) => (k, Some(m)),
        None => (rest, None),
    };
    let (kind, slot) = match kind.rsplit_once(" (Slot") {
        Some((k, s)) => (k, s.strip_suffix(')')),
        None => (kind, None),
    };
    collapse_into(kind, &mut tmp.val);
    sink.push(&[prefix, ".Type"], &tmp.val);
    if let Some(s) = slot {
        sink.push(&[prefix, ".Slot"], s);
    }
    if let Some(m) = msi {
        sink.push(&[prefix, ".MSI"], m.trim());
    }
}

/// Tokenizes one trimmed, non-empty line of a block: a register line (`depth` 0) opens a
/// register, a continuation line extends the current one (`state`).
fn block_line(
    is_header: bool,
    key_of: KeyOf<'_>,
    state: &mut BlockState,
    depth: u8,
    text: &str,
    sink: &mut sink::Sink,
    tmp: &mut Tmp,
) {
    let BlockState { cur, has_cur } = state;
    if depth == 0 {
        match split_register(text) {
            // A name, not a setting: the numeric ids live in `Device::ids`, and names
            // differ between pci.ids versions, so parse and decode would disagree.
            Some(("Subsystem", _)) if is_header => *has_cur = false,
            Some((reg, content)) => {
                key_of.write(reg, cur);
                if is_opaque(reg, is_header) {
                    collapse_into(content, &mut tmp.val);
                    sink.push(&[cur], &tmp.val);
                    *has_cur = false;
                    return;
                }
                tokenize_content(cur, content, sink, tmp);
                *has_cur = true;
            }
            None => {
                // A line with no register name (`End` in VPD, `Not readable`): kept whole.
                key_of.write("raw", cur);
                collapse_into(text, &mut tmp.val);
                sink.push(&[cur], &tmp.val);
                *has_cur = false;
            }
        }
        return;
    }
    if let Some((reg, content)) = split_camel_register(text) {
        key_of.write(reg, cur);
        tokenize_content(cur, content, sink, tmp);
        *has_cur = true;
        return;
    }
    if *has_cur {
        tokenize_content(cur, text, sink, tmp);
    } else {
        key_of.write("raw", cur);
        collapse_into(text, &mut tmp.val);
        sink.push(&[cur], &tmp.val);
    }
}

/// Header registers in [`OPAQUE_REGISTERS`], and BAR descriptions anywhere (SR-IOV VF BARs,
/// Resizable BAR).
fn is_opaque(reg: &str, is_header: bool) -> bool {
    (is_header && OPAQUE_REGISTERS.contains(&reg))
        || reg.starts_with("Region ")
        || reg.starts_with("BAR ")
}

/// `DevCtl:\tCorrErr- ...` → `("DevCtl", "CorrErr- ...")`. The register name is the text up
/// to the first colon that is followed by whitespace or ends the line.
pub(crate) fn split_register(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b':' if i > 0 && (i + 1 == bytes.len() || bytes[i + 1].is_ascii_whitespace()) => {
                let name = text[..i].trim();
                if name.is_empty() {
                    return None;
                }
                return Some((name, text[i + 1..].trim()));
            }
            // A setting or flag before any colon means this is not `Name: ...`.
            b'=' | b'+' | b',' => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// A continuation line that opens its own register: `AtomicOpsCap: 32bit- ...`.
fn split_camel_register(text: &str) -> Option<(&str, &str)> {
    // Cheap rejection first: the first word must end in a colon.
    let first_end = text
        .bytes()
        .position(|b| b == b':' || b.is_ascii_whitespace() || b >= 0x80)?;
    if text.as_bytes()[first_end] != b':' {
        return None;
    }
    let (first, rest) = match text.split_once(char::is_whitespace) {
        Some((f, r)) => (f, r),
        None => (text, ""),
    };
    let name = first.strip_suffix(':')?;
    is_camel_word(name).then_some((name, rest.trim()))
}

fn is_camel_word(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_uppercase()
        && b.iter().all(u8::is_ascii_alphanumeric)
        && b.iter().any(u8::is_ascii_lowercase)
}

/// `char::is_whitespace` for the character starting at byte `i` of `s` (a char boundary);
/// returns it and the character's length.
#[inline]
fn whitespace_at(s: &str, i: usize) -> (bool, usize) {
    let b = s.as_bytes()[i];
    if b < 0x80 {
        (matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'), 1)
    } else {
        match s[i..].chars().next() {
            Some(c) => (c.is_whitespace(), c.len_utf8()),
            None => (false, 1),
        }
    }
}

/// Byte ranges of the chunks of `content`, split at top-level `,` and `;` (not inside `()`
/// or `[]`). There is always at least one (possibly empty) chunk.
struct Chunks<'a> {
    bytes: &'a [u8],
    pos: usize,
    depth: i32,
    done: bool,
}

impl Iterator for Chunks<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        if self.done {
            return None;
        }
        let start = self.pos;
        let mut i = start;
        while i < self.bytes.len() {
            match self.bytes[i] {
                b'(' | b'[' => self.depth += 1,
                b')' | b']' => self.depth -= 1,
                b',' | b';' if self.depth <= 0 => {
                    self.pos = i + 1;
                    return Some((start, i));
                }
                _ => {}
            }
            i += 1;
        }
        self.done = true;
        Some((start, self.bytes.len()))
    }
}

fn chunks(content: &str) -> Chunks<'_> {
    Chunks {
        bytes: content.as_bytes(),
        pos: 0,
        depth: 0,
        done: false,
    }
}

/// Byte classes for the token scanner.
const ORDINARY: u8 = 0;
const OPEN: u8 = 1;
const CLOSE: u8 = 2;
const SPACE: u8 = 3;
const NON_ASCII: u8 = 4;

/// Class of every byte: ASCII whitespace as `char::is_whitespace` has it (including U+000B),
/// brackets, and bytes of multi-byte characters (which may be Unicode whitespace).
static CLASS: [u8; 256] = {
    let mut t = [ORDINARY; 256];
    t[b'(' as usize] = OPEN;
    t[b'[' as usize] = OPEN;
    t[b')' as usize] = CLOSE;
    t[b']' as usize] = CLOSE;
    t[b' ' as usize] = SPACE;
    t[b'\t' as usize] = SPACE;
    t[b'\n' as usize] = SPACE;
    t[0x0b] = SPACE;
    t[0x0c] = SPACE;
    t[b'\r' as usize] = SPACE;
    let mut i = 0x80;
    while i < 256 {
        t[i] = NON_ASCII;
        i += 1;
    }
    t
};

/// Byte ranges of the whitespace-separated tokens of `s[pos..end]`, keeping `(...)` and
/// `[...]` groups whole (whitespace inside them does not split).
struct Tokens<'a> {
    s: &'a str,
    pos: usize,
    end: usize,
    depth: i32,
}

impl Iterator for Tokens<'_> {
    type Item = (usize, usize);

    #[inline]
    fn next(&mut self) -> Option<(usize, usize)> {
        let bytes = self.s.as_bytes();
        let end = self.end;
        let mut i = self.pos;
        // Between tokens the depth is never above zero, so whitespace only separates.
        let start = loop {
            if i >= end {
                self.pos = end;
                return None;
            }
            match CLASS[bytes[i] as usize] {
                SPACE => i += 1,
                NON_ASCII => {
                    let (ws, len) = whitespace_at(self.s, i);
                    if !ws {
                        break i;
                    }
                    i += len;
                }
                _ => break i,
            }
        };
        while i < end {
            match CLASS[bytes[i] as usize] {
                ORDINARY => i += 1,
                OPEN => {
                    self.depth += 1;
                    i += 1;
                }
                CLOSE => {
                    self.depth -= 1;
                    i += 1;
                }
                SPACE => {
                    if self.depth <= 0 {
                        self.pos = i + 1;
                        return Some((start, i));
                    }
                    i += 1;
                }
                _ => {
                    let (ws, len) = whitespace_at(self.s, i);
                    if ws && self.depth <= 0 {
                        self.pos = i + len;
                        return Some((start, i));
                    }
                    i += len;
                }
            }
        }
        self.pos = end;
        Some((start, end))
    }
}

/// `Name+` / `Name-`.
fn as_flag(tok: &str) -> Option<(&str, &str)> {
    // Strip the sign as a character: a token may end in a multi-byte one (a stray byte
    // read as U+FFFD), where splitting at `len - 1` is not a char boundary.
    let name = tok.strip_suffix(['+', '-'])?;
    let sign = &tok[name.len()..];
    if name.is_empty() {
        return None;
    }
    // `-6dB`-style values never end in a sign; a name needs a letter.
    if !name.bytes().any(|b| b.is_ascii_alphabetic()) || name.ends_with(['+', '-', '/']) {
        return None;
    }
    Some((name, sign))
}

/// `Name=value`.
fn as_setting(tok: &str) -> Option<(&str, &str)> {
    if tok.starts_with(['[', '(']) {
        return None;
    }
    let (k, v) = tok.split_once('=')?;
    (!k.is_empty()).then_some((k, v))
}

/// `PME(D0+,D1-)` → (`PME`, `D0+,D1-`).
fn as_call(tok: &str) -> Option<(&str, &str)> {
    let open = tok.find('(')?;
    let inner = tok.get(open + 1..)?.strip_suffix(')')?;
    let name = &tok[..open];
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric())).then_some((name, inner))
}

fn is_name_word(tok: &str) -> bool {
    tok.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && !tok
            .bytes()
            .any(|b| b.is_ascii_digit() || matches!(b, b'(' | b'[' | b'<' | b'>' | b'='))
}

/// The state of one register line being tokenized.
struct Line1<'a, 'b> {
    content: &'a str,
    sink: &'b mut Sink,
    tmp: &'b mut Tmp,
    any_in_line: bool,
}

/// Tokenizes one register's content into settings under `reg`.
fn tokenize_content(reg: &str, content: &str, sink: &mut Sink, tmp: &mut Tmp) {
    tmp.reg.clear();
    tmp.reg.push_str(reg);
    let mut st = Line1 {
        content,
        sink,
        tmp,
        any_in_line: false,
    };
    for (chunk_index, (cs, ce)) in chunks(content).enumerate() {
        st.tmp.phrase.clear();
        st.tmp.has_sub = false;
        let mut first_chunk_token: Option<&str> = None;
        let tokens = Tokens {
            s: content,
            pos: cs,
            end: ce,
            depth: 0,
        };
        for (ts, te) in tokens {
            let tok = &content[ts..te];
            first_chunk_token.get_or_insert(tok);
            if let Some(name) = tok.strip_suffix(':').filter(|n| !n.is_empty()) {
                // `Data:` after a value is a sibling register (`Address: ... Data: ...`).
                let value_only = st
                    .tmp
                    .phrase
                    .first()
                    .is_some_and(|&(s, e)| !is_name_word(&content[s..e]));
                if !st.tmp.has_sub && value_only && is_camel_word(name) {
                    st.flush(false);
                    st.any_in_line = false;
                    let reg = &mut st.tmp.reg;
                    match reg.rfind('.') {
                        Some(i) => reg.truncate(i + 1),
                        None => reg.clear(),
                    }
                    reg.push_str(name);
                    continue;
                }
                // With a sub-setting pending, the words so far are its value; otherwise they
                // are the start of this sub-setting's name (`Completion Timeout:`).
                if st.tmp.has_sub {
                    st.flush(false);
                    st.tmp.sub.clear();
                } else {
                    let Tmp { phrase, sub, .. } = &mut *st.tmp;
                    sub.clear();
                    join_words(content, phrase, sub);
                    phrase.clear();
                    if !sub.is_empty() {
                        sub.push(' ');
                    }
                }
                st.tmp.sub.push_str(name);
                st.tmp.has_sub = true;
                continue;
            }
            let last = tok.as_bytes()[tok.len() - 1];
            if let Some((name, sign)) = (last == b'+' || last == b'-')
                .then(|| as_flag(tok))
                .flatten()
            {
                st.flush(false);
                st.sink.push(&[&st.tmp.reg, ".", name], sign);
                st.any_in_line = true;
                continue;
            }
            let setting = if tok.bytes().any(|b| b == b'=' || b == b'(') {
                as_setting(tok).or_else(|| as_call(tok))
            } else {
                None
            };
            if let Some((k, v)) = setting {
                st.flush(false);
                st.sink.push(&[&st.tmp.reg, ".", k], v);
                st.any_in_line = true;
                continue;
            }
            st.tmp.phrase.push((ts, te));
        }
        let continues =
            chunk_index > 0 && first_chunk_token.is_some_and(|t| !starts_phrase_name(t));
        st.flush(continues);
    }
}

fn starts_phrase_name(tok: &str) -> bool {
    is_name_word(tok) || tok.ends_with(':')
}

/// Writes the words at `ranges` of `content` joined with single spaces.
fn join_words(content: &str, ranges: &[(usize, usize)], out: &mut String) {
    for (i, &(s, e)) in ranges.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&content[s..e]);
    }
}

impl Line1<'_, '_> {
    /// Emits the pending phrase.
    fn flush(&mut self, continues_previous: bool) {
        let content = self.content;
        let Tmp {
            reg,
            phrase,
            sub,
            has_sub,
            val,
        } = &mut *self.tmp;
        if *has_sub {
            *has_sub = false;
            val.clear();
            join_words(content, phrase, val);
            phrase.clear();
            push_value(self.sink, &[reg, ".", sub], val);
            self.any_in_line = true;
            return;
        }
        if phrase.is_empty() {
            return;
        }
        val.clear();
        join_words(content, phrase, val);
        let joined = val.as_str();
        let multi = MULTI_WORD_NAMES.iter().find(|n| {
            joined.starts_with(*n) && joined.len() > n.len() && joined.as_bytes()[n.len()] == b' '
        });
        if let Some(name) = multi {
            push_value(self.sink, &[reg, ".", name], joined[name.len()..].trim());
        } else if phrase.len() >= 2 && {
            let (s, e) = phrase[0];
            is_name_word(&content[s..e])
        } {
            let (s, e) = phrase[0];
            // The rest of the phrase, joined: it follows the first word and a space.
            push_value(self.sink, &[reg, ".", &content[s..e]], &joined[e - s + 1..]);
        } else if continues_previous && self.any_in_line {
            self.sink.append_last(", ", joined);
        } else {
            push_value(self.sink, &[reg], joined);
        }
        phrase.clear();
        self.any_in_line = true;
    }
}

/// Pushes `key = value`, splitting off a link annotation such as `(downgraded)`.
fn push_value(sink: &mut Sink, key: &[&str], value: &str) {
    let value = value.trim();
    if value.ends_with(')') {
        for (suffix, note) in [
            ("(downgraded)", Some("downgraded")),
            ("(overdriven)", Some("overdriven")),
            ("(ok)", None),
        ] {
            if let Some(v) = value.strip_suffix(suffix) {
                sink.push(key, v.trim_end());
                if let Some(n) = note {
                    let mut with_note = [""; 4];
                    let k = key.len().min(3);
                    with_note[..k].copy_from_slice(&key[..k]);
                    with_note[k] = ".Note";
                    sink.push(&with_note[..=k], n);
                }
                return;
            }
        }
    }
    sink.push(key, value);
}

/// Writes `s` with runs of whitespace collapsed to one space into `out` (cleared first).
fn collapse_into(s: &str, out: &mut String) {
    out.clear();
    for (i, w) in s.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{CapabilitySpace, Line};

    fn fields_of(title: &str, tag: &str, lines: &[(u8, &str)]) -> Vec<(String, String)> {
        let dev = Device {
            capabilities: vec![std::sync::Arc::new(Capability {
                space: CapabilitySpace::Standard,
                offset: 0x60,
                id: None,
                version: None,
                tag: tag.into(),
                title: title.into(),
                lines: lines
                    .iter()
                    .map(|(d, t)| Line {
                        depth: *d,
                        text: (*t).into(),
                    })
                    .collect(),
            })],
            ..Device::default()
        };
        device_fields(&dev)
            .into_iter()
            .map(|f| (f.key, f.value))
            .collect()
    }

    fn get<'a>(f: &'a [(String, String)], k: &str) -> Option<&'a str> {
        f.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn express_registers() {
        let f = fields_of(
            "Express (v2) Endpoint, MSI 00",
            "Express",
            &[
                (0, "DevCap:\tMaxPayload 256 bytes, PhantFunc 0, Latency L0s <64ns, L1 unlimited"),
                (1, "ExtTag- AttnBtn- RBE+ FLReset+ SlotPowerLimit 116W"),
                (0, "DevCtl:\tCorrErr- NonFatalErr- FatalErr- UnsupReq-"),
                (1, "RlxdOrd+ ExtTag- PhantFunc- AuxPwr- NoSnoop- FLReset-"),
                (1, "MaxPayload 256 bytes, MaxReadReq 4096 bytes"),
                (0, "LnkCap:\tPort #8, Speed 8GT/s, Width x8, ASPM L0s L1, Exit Latency L0s <512ns, L1 <16us"),
                (0, "LnkSta:\tSpeed 2.5GT/s (downgraded), Width x8 (ok)"),
                (1, "TrErr- Train- SlotClk+ DLActive- BWMgmt- ABWMgmt-"),
                (0, "DevCap2: Completion Timeout: Range ABCD, TimeoutDis+ NROPrPrP- LTR-"),
                (1, "10BitTagComp- 10BitTagReq- OBFF Not Supported, ExtFmt- EETLPPrefix-"),
                (1, "AtomicOpsCap: 32bit- 64bit- 128bitCAS-"),
                (0, "LnkCtl2: Target Link Speed: 8GT/s, EnterCompliance- SpeedDis-"),
                (1, "Compliance Preset/De-emphasis: -6dB de-emphasis, 0dB preshoot"),
                (0, "LnkCtl:\tASPM Disabled; RCB 64 bytes, Disabled- CommClk+"),
            ],
        );
        assert_eq!(get(&f, "Express.Type"), Some("Endpoint"));
        assert_eq!(get(&f, "Express.Version"), Some("2"));
        assert_eq!(get(&f, "DevCap.MaxPayload"), Some("256 bytes"));
        assert_eq!(get(&f, "DevCap.Latency"), Some("L0s <64ns, L1 unlimited"));
        assert_eq!(get(&f, "DevCap.SlotPowerLimit"), Some("116W"));
        assert_eq!(get(&f, "DevCtl.RlxdOrd"), Some("+"));
        assert_eq!(get(&f, "DevCtl.MaxReadReq"), Some("4096 bytes"));
        assert_eq!(get(&f, "LnkCap.Port"), Some("#8"));
        assert_eq!(get(&f, "LnkCap.ASPM"), Some("L0s L1"));
        assert_eq!(get(&f, "LnkCap.Exit Latency"), Some("L0s <512ns, L1 <16us"));
        assert_eq!(get(&f, "LnkSta.Speed"), Some("2.5GT/s"));
        assert_eq!(get(&f, "LnkSta.Speed.Note"), Some("downgraded"));
        assert_eq!(get(&f, "LnkSta.Width"), Some("x8"));
        assert_eq!(get(&f, "LnkSta.Width.Note"), None);
        assert_eq!(get(&f, "LnkSta.DLActive"), Some("-"));
        assert_eq!(get(&f, "DevCap2.Completion Timeout"), Some("Range ABCD"));
        assert_eq!(get(&f, "DevCap2.OBFF"), Some("Not Supported"));
        assert_eq!(get(&f, "DevCap2.10BitTagComp"), Some("-"));
        assert_eq!(get(&f, "AtomicOpsCap.128bitCAS"), Some("-"));
        assert_eq!(get(&f, "LnkCtl2.Target Link Speed"), Some("8GT/s"));
        assert_eq!(
            get(&f, "LnkCtl2.Compliance Preset/De-emphasis"),
            Some("-6dB de-emphasis, 0dB preshoot")
        );
        assert_eq!(get(&f, "LnkCtl.ASPM"), Some("Disabled"));
        assert_eq!(get(&f, "LnkCtl.RCB"), Some("64 bytes"));
        assert_eq!(get(&f, "LnkCtl.Disabled"), Some("-"));
    }

    #[test]
    fn msi_and_pm_are_prefixed() {
        let f = fields_of(
            "MSI: Enable+ Count=1/1 Maskable- 64bit+",
            "MSI",
            &[(0, "Address: 00000000fee0e000  Data: 0037")],
        );
        assert_eq!(get(&f, "MSI.Enable"), Some("+"));
        assert_eq!(get(&f, "MSI.Count"), Some("1/1"));
        assert_eq!(get(&f, "MSI.Address"), Some("00000000fee0e000"));
        assert_eq!(get(&f, "MSI.Data"), Some("0037"));
        let f = fields_of(
            "Power Management version 3",
            "PM",
            &[
                (
                    0,
                    "Flags: PMEClk- DSI- D1- D2- AuxCurrent=0mA PME(D0+,D1-,D2-,D3hot+,D3cold-)",
                ),
                (0, "Status: D0 NoSoftRst+ PME-Enable- DSel=0 DScale=0 PME-"),
            ],
        );
        assert_eq!(get(&f, "PM.Version"), Some("3"));
        assert_eq!(get(&f, "PM.Flags.PME"), Some("D0+,D1-,D2-,D3hot+,D3cold-"));
        assert_eq!(get(&f, "PM.Status"), Some("D0"));
        assert_eq!(get(&f, "PM.Status.PME-Enable"), Some("-"));
        assert_eq!(get(&f, "PM.Status.PME"), Some("-"));
    }

    #[test]
    fn aer_root_registers_are_prefixed_and_error_source_nests() {
        let f = fields_of(
            "Advanced Error Reporting",
            "AER",
            &[
                (
                    0,
                    "CESta:\tRxErr- BadTLP+ BadDLLP- Rollover- Timeout- AdvNonFatalErr-",
                ),
                (0, "RootSta: CERcvd- MultCERcvd- UERcvd- MultUERcvd-"),
                (1, "FirstFatal- NonFatalMsg- FatalMsg- IntMsg 0"),
                (0, "ErrorSrc: ERR_COR: 0000 ERR_FATAL/NONFATAL: 0000"),
            ],
        );
        assert_eq!(get(&f, "CESta.BadTLP"), Some("+"));
        assert_eq!(get(&f, "AER.RootSta.CERcvd"), Some("-"));
        assert_eq!(get(&f, "AER.RootSta.IntMsg"), Some("0"));
        assert_eq!(get(&f, "AER.ErrorSrc.ERR_COR"), Some("0000"));
        assert_eq!(get(&f, "AER.ErrorSrc.ERR_FATAL/NONFATAL"), Some("0000"));
    }

    #[test]
    fn header_registers() {
        let dev = Device {
            header: vec![
                Line::reg("Control: I/O+ Mem+ BusMaster+ SpecCycle- MemWINV-"),
                Line::reg("Status: Cap+ 66MHz- DEVSEL=fast >TAbort- <TAbort-"),
                Line::reg("Latency: 0, Cache Line Size: 64 bytes"),
                Line::reg("Region 0: Memory at c0100000 (32-bit, non-prefetchable) [size=1M]"),
                Line::reg("Bus: primary=00, secondary=03, subordinate=03, sec-latency=0"),
                Line::reg("BridgeCtl: Parity- SERR- NoISA- VGA- VGA16+ MAbort- >Reset- FastB2B-"),
                Line::cont("PriDiscTmr- SecDiscTmr- DiscTmrStat- DiscTmrSERREn-"),
            ],
            ..Device::default()
        };
        let f: Vec<(String, String)> = device_fields(&dev)
            .into_iter()
            .map(|f| (f.key, f.value))
            .collect();
        assert_eq!(get(&f, "Control.I/O"), Some("+"));
        assert_eq!(get(&f, "Status.DEVSEL"), Some("fast"));
        assert_eq!(get(&f, "Status.>TAbort"), Some("-"));
        assert_eq!(get(&f, "Latency"), Some("0"));
        assert_eq!(get(&f, "Latency.Cache Line Size"), Some("64 bytes"));
        assert_eq!(
            get(&f, "Region 0"),
            Some("Memory at c0100000 (32-bit, non-prefetchable) [size=1M]")
        );
        assert_eq!(get(&f, "Bus.secondary"), Some("03"));
        assert_eq!(get(&f, "BridgeCtl.DiscTmrSERREn"), Some("-"));
    }

    #[test]
    fn old_lspci_names_map_to_current_ones() {
        let f = fields_of(
            "Express (v2) Endpoint, MSI 00",
            "Express",
            &[
                (
                    0,
                    "DevCtl:\tReport errors: Correctable+ Non-Fatal+ Fatal+ Unsupported+",
                ),
                (
                    0,
                    "DevSta:\tCorrErr+ UncorrErr- FatalErr- UnsuppReq+ AuxPwr- TransPend-",
                ),
            ],
        );
        assert_eq!(get(&f, "DevCtl.CorrErr"), Some("+"));
        assert_eq!(get(&f, "DevCtl.UnsupReq"), Some("+"));
        assert_eq!(get(&f, "DevSta.NonFatalErr"), Some("-"));
        assert_eq!(get(&f, "DevSta.UnsupReq"), Some("+"));
        assert!(f.iter().all(|(k, _)| !k.contains("Report errors")));
    }

    /// Found by the `lspci_text` fuzzer: a token ending in a multi-byte character.
    #[test]
    fn token_ending_in_multibyte_char_is_no_flag() {
        assert_eq!(as_flag("(do\u{fffd}"), None);
        assert_eq!(as_flag("\u{e9}+"), None);
        assert_eq!(as_flag("Caf\u{e9}+"), Some(("Caf\u{e9}", "+")));
    }
}
