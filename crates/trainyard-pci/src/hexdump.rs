//! Reader for `lspci -x` / `-xxx` / `-xxxx` hex dumps.
//!
//! Accepts the dumps alone or interleaved with the `-v`/`-vvv` text lspci prints between a
//! device's header line and its hex rows, with or without a domain, and with an optional
//! `pdsh`-style `host: ` prefix on every line. Each device's rows must start at `00:` and
//! continue without gaps in steps of 16 bytes; lspci writes 64, 256 or 4096 bytes, and any
//! other length means the dump was cut.

use crate::address::PciAddress;
use crate::text::header_line::split_host_prefix;

/// One device's bytes from a hex dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexDump {
    /// Host from a `host: ` prefix, if present.
    pub host: Option<String>,
    /// Device address from the header line.
    pub address: PciAddress,
    /// 1-based line number of the header line.
    pub line: usize,
    /// The header line's text after the address (class and names), if any.
    pub title: String,
    /// Config space bytes, 64, 256 or 4096 long.
    pub bytes: Vec<u8>,
}

/// Why a hex dump cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HexDumpError {
    /// A row that does not continue the previous one.
    #[error("line {line}: hex row at offset {found:#x}, expected {expected:#x} (a row is missing or out of order)")]
    MissingRow {
        /// 1-based line.
        line: usize,
        /// Offset the row claims.
        found: usize,
        /// Offset that should have come next.
        expected: usize,
    },
    /// A row whose bytes are not 16 two-digit hex numbers.
    #[error("line {line}: malformed hex row: {reason}")]
    BadRow {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A row before any device header line.
    #[error("line {line}: hex row before any device header line")]
    Orphan {
        /// 1-based line.
        line: usize,
    },
    /// A device whose rows stop at a length lspci never writes.
    #[error("line {line}: device {address} has {len} bytes of config space; lspci writes 64, 256 or 4096 (the dump is cut)")]
    Truncated {
        /// Line of the device header.
        line: usize,
        /// The device.
        address: PciAddress,
        /// Bytes read.
        len: usize,
    },
    /// Input with no hex rows at all.
    #[error("no hex dump rows found (expected lines such as `00: 86 80 04 2f ...` from lspci -x)")]
    Empty,
}

impl HexDumpError {
    /// 1-based line the error refers to, if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::MissingRow { line, .. }
            | Self::BadRow { line, .. }
            | Self::Orphan { line }
            | Self::Truncated { line, .. } => Some(*line),
            Self::Empty => None,
        }
    }
}

/// Parses a hex row `OFF: b0 b1 ... b15`; `None` when the line is not shaped like one.
pub(crate) fn parse_row(line: &str) -> Option<Result<(usize, [u8; 16]), String>> {
    let colon = crate::text::header_line::find_colon_space(line)?;
    let (off, rest) = (&line[..colon], &line[colon + 2..]);
    if off.is_empty() || off.len() > 3 || !off.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    // A device header such as "00:02.0 ..." has no ": " right after the first field, and a
    // register line such as "Control: ..." has a non-hex prefix, so only rows get here.
    let offset = usize::from_str_radix(off, 16).ok()?;
    // The shape lspci writes, `hh hh ... hh` with single spaces, decoded directly.
    if let Some(bytes) = plain_row(rest.as_bytes()) {
        return Some(Ok((offset, bytes)));
    }
    let mut bytes = [0u8; 16];
    let mut n = 0;
    for tok in rest.split_ascii_whitespace() {
        if n == 16 {
            return Some(Err("more than 16 bytes on the row".into()));
        }
        if tok.len() != 2 {
            return Some(Err(format!("{tok:?} is not a two-digit hex byte")));
        }
        match u8::from_str_radix(tok, 16) {
            Ok(b) => bytes[n] = b,
            Err(_) => return Some(Err(format!("{tok:?} is not a two-digit hex byte"))),
        }
        n += 1;
    }
    if n != 16 {
        return Some(Err(format!("{n} bytes on the row, expected 16")));
    }
    Some(Ok((offset, bytes)))
}

/// Value of each hex digit byte; 0xff for other bytes.
static HEX_DIGIT: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Sixteen two-digit hex bytes separated by single spaces, or `None` for anything else (the
/// general path then decides, with its error messages).
///
/// Most of a dump is these rows (256 per 4 KiB device), so each byte is one lookup of its
/// two digits together in [`HEX_PAIR`], and the fifteen separators are checked eight text
/// bytes at a time; digit by digit (two lookups, a shift and a space test per byte) this was
/// most of `decode`'s row reading.
fn plain_row(rest: &[u8]) -> Option<[u8; 16]> {
    // A fixed-size array: every index below is in bounds by construction.
    let rest: &[u8; 16 * 3 - 1] = rest.try_into().ok()?;
    // Most rows of a 4 KiB dump are zeros (the extended space past the last capability:
    // 82% of the rows in tests/data/hex), and one comparison settles those.
    if is_zero_row(rest) {
        return Some([0; 16]);
    }
    // Separators: the words at these offsets, masked to their separator bytes, must be
    // spaces there. Together the words cover every separator (the last one overlaps).
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&rest[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let mut seps = 0;
    for (at, mask) in ROW_SEPARATORS {
        seps |= (word(at) ^ SPACES) & mask;
    }
    let mut bytes = [0u8; 16];
    let mut bad = 0u16;
    for (i, b) in bytes.iter_mut().enumerate() {
        let pair = HEX_PAIR[usize::from(u16::from_le_bytes([rest[i * 3], rest[i * 3 + 1]]))];
        bad |= pair;
        *b = pair as u8;
    }
    (seps == 0 && bad & 0x100 == 0).then_some(bytes)
}

/// The text of a row of sixteen zero bytes.
const ZERO_ROW: &[u8; 47] = b"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00";

/// `row == ZERO_ROW`, compared as six words (the last overlapping) instead of by `memcmp`.
fn is_zero_row(row: &[u8; 47]) -> bool {
    let word = |b: &[u8; 47], at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(w)
    };
    [0, 8, 16, 24, 32, 39]
        .iter()
        .all(|&at| word(row, at) == word(ZERO_ROW, at))
}

/// Eight spaces.
const SPACES: u64 = 0x2020_2020_2020_2020;

/// Offsets of 8-byte words of a row's 47 bytes and, per word, `0xff` in the bytes that are
/// separators (little-endian: the first text byte is the lowest). The pattern repeats every
/// three bytes (digit, digit, space).
const ROW_SEPARATORS: [(usize, u64); 6] = [
    (0, 0x0000_ff00_00ff_0000),  // D D S D D S D D
    (8, 0x00ff_0000_ff00_00ff),  // S D D S D D S D
    (16, 0xff00_00ff_0000_ff00), // D S D D S D D S
    (24, 0x0000_ff00_00ff_0000),
    (32, 0x00ff_0000_ff00_00ff),
    (39, 0x0000_ff00_00ff_0000), // overlaps: bytes 39..47
];

/// The byte two hex digits spell, indexed by the digits as a little-endian `u16` (first
/// digit in the low byte); `0x100` for anything that is not two hex digits.
static HEX_PAIR: [u16; 1 << 16] = {
    let mut t = [0x100u16; 1 << 16];
    let digits = b"0123456789abcdefABCDEF";
    let mut i = 0;
    while i < digits.len() {
        let mut j = 0;
        while j < digits.len() {
            let (hi, lo) = (digits[i], digits[j]);
            t[hi as usize | (lo as usize) << 8] =
                (HEX_DIGIT[hi as usize] as u16) << 4 | HEX_DIGIT[lo as usize] as u16;
            j += 1;
        }
        i += 1;
    }
    t
};

/// A row exactly as lspci writes it, `OFF: hh hh ... hh` with a two- or three-digit offset
/// that is a multiple of 16 and nothing after the last byte: the offset and bytes. Such a
/// line is never taken for a `host: ` prefix, and [`parse_row`] reads it the same way.
fn lspci_row(line: &[u8]) -> Option<(usize, [u8; 16])> {
    let colon = match line.get(2..4)? {
        [b':', b' '] => 2,
        [_, b':'] if line.get(4) == Some(&b' ') => 3,
        _ => return None,
    };
    let off = &line[..colon];
    if off[colon - 1] != b'0' || off.iter().any(|&b| HEX_DIGIT[b as usize] > 15) {
        return None;
    }
    let offset = off.iter().fold(0usize, |acc, &b| {
        acc * 16 + usize::from(HEX_DIGIT[b as usize])
    });
    plain_row(&line[colon + 2..]).map(|bytes| (offset, bytes))
}

/// Whether `digits` spell `offset` in lowercase hex, zero-padded to their length.
fn offset_is(digits: &[u8], offset: usize) -> bool {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    digits
        .iter()
        .rev()
        .enumerate()
        .all(|(i, &d)| d == HEX[(offset >> (4 * i)) & 0xf])
}

/// Streaming reader: feed lines with [`HexDumpReader::push_line`], collect finished devices.
///
/// Errors affect only the device they occur in: after an error the reader skips to the next
/// device header, so one damaged device never hides the rest of the dump.
#[derive(Debug, Default)]
pub struct HexDumpReader {
    line_no: usize,
    current: Option<HexDump>,
    poisoned: bool,
    rows_seen: usize,
}

impl HexDumpReader {
    /// A reader at line 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one line (without its newline). Returns a finished device or an error when this
    /// line completes or breaks one.
    pub fn push_line(&mut self, raw: &str) -> Option<Result<HexDump, HexDumpError>> {
        self.line_no += 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        // Most lines of a dump are rows exactly as lspci writes them: decoded here without
        // the host-prefix and general row checks (which would come to the same answer).
        if let Some(row) = lspci_row(raw.as_bytes()) {
            return self.row(Ok(row));
        }
        let (host, line) = split_host_prefix(raw);
        if let Some(row) = parse_row(line.trim_end()) {
            return self.row(row);
        }
        if line.starts_with(|c: char| c.is_ascii_hexdigit()) {
            if let Some((address, title)) = crate::text::header_line::split_address(line) {
                let finished = self.take_current();
                self.current = Some(HexDump {
                    host: host.map(str::to_string),
                    address,
                    line: self.line_no,
                    title: title.trim().to_string(),
                    bytes: Vec::new(),
                });
                return finished;
            }
        }
        None
    }

    /// Reads the rows at the start of `text` that continue the current device exactly as
    /// lspci writes them (`OFF: hh hh ... hh`, lowercase offset, nothing else on the line),
    /// many at a time: the same as feeding those lines to [`HexDumpReader::push_line`] one
    /// by one, without classifying each line first. Stops at the first line that is anything
    /// else (a header, a cut or damaged row, a `host: ` prefix), which the caller then
    /// passes to `push_line` as usual.
    ///
    /// `text` holds whole lines, each ended by `\n` or by the end of `text`. Returns the
    /// number of lines read and their length in bytes, counting a newline after each (for
    /// the last line of `text`, the one just past its end).
    pub fn push_rows(&mut self, text: &str) -> (usize, usize) {
        let Some(cur) = self.current.as_mut().filter(|_| !self.poisoned) else {
            return (0, 0);
        };
        let text = text.as_bytes();
        let (mut rows, mut pos) = (0, 0);
        // A row is its offset, `: `, 47 bytes of digits and spaces, and the newline.
        loop {
            let offset = cur.bytes.len();
            if offset >= 4096 {
                break; // lspci writes no more; `push_line` reports what follows
            }
            let digits = if offset < 0x100 { 2 } else { 3 };
            let Some(line) = text.get(pos..pos + digits + 2 + 47) else {
                break;
            };
            if !matches!(text.get(pos + line.len()), None | Some(b'\n'))
                || line[digits..digits + 2] != *b": "
                || !offset_is(&line[..digits], offset)
            {
                break;
            }
            let Some(bytes) = plain_row(&line[digits + 2..]) else {
                break;
            };
            if cur.bytes.is_empty() {
                cur.bytes.reserve_exact(4096);
            }
            cur.bytes.extend_from_slice(&bytes);
            rows += 1;
            pos += line.len() + 1;
        }
        self.line_no += rows;
        self.rows_seen += rows;
        (rows, pos)
    }

    /// Takes a row of the current device (or the error it is).
    fn row(
        &mut self,
        row: Result<(usize, [u8; 16]), String>,
    ) -> Option<Result<HexDump, HexDumpError>> {
        self.rows_seen += 1;
        let line_no = self.line_no;
        let Some(cur) = self.current.as_mut() else {
            return Some(Err(HexDumpError::Orphan { line: line_no }));
        };
        if self.poisoned {
            return None;
        }
        match row {
            Err(reason) => {
                self.poisoned = true;
                Some(Err(HexDumpError::BadRow {
                    line: line_no,
                    reason,
                }))
            }
            Ok((offset, _)) if offset != cur.bytes.len() => {
                self.poisoned = true;
                Some(Err(HexDumpError::MissingRow {
                    line: line_no,
                    found: offset,
                    expected: cur.bytes.len(),
                }))
            }
            Ok((_, bytes)) => {
                if cur.bytes.is_empty() {
                    cur.bytes.reserve_exact(4096);
                }
                cur.bytes.extend_from_slice(&bytes);
                None
            }
        }
    }

    fn take_current(&mut self) -> Option<Result<HexDump, HexDumpError>> {
        let poisoned = std::mem::take(&mut self.poisoned);
        let cur = self.current.take()?;
        if poisoned || cur.bytes.is_empty() {
            return None;
        }
        if !matches!(cur.bytes.len(), 64 | 256 | 4096) {
            return Some(Err(HexDumpError::Truncated {
                line: cur.line,
                address: cur.address,
                len: cur.bytes.len(),
            }));
        }
        Some(Ok(cur))
    }

    /// Ends the input, returning the last device (or its error).
    pub fn finish(&mut self) -> Option<Result<HexDump, HexDumpError>> {
        self.take_current()
    }

    /// True when at least one hex row was seen.
    pub fn saw_rows(&self) -> bool {
        self.rows_seen > 0
    }
}

/// Reads every device from a whole hex dump text. Errors are returned beside the devices
/// that were read, so a caller can report them and still use the rest.
pub fn read_hex_dumps(text: &str) -> (Vec<HexDump>, Vec<HexDumpError>) {
    let mut reader = HexDumpReader::new();
    let mut devices = Vec::new();
    let mut errors = Vec::new();
    let mut sink = |r: Result<HexDump, HexDumpError>| match r {
        Ok(d) => devices.push(d),
        Err(e) => errors.push(e),
    };
    for line in text.lines() {
        if let Some(r) = reader.push_line(line) {
            sink(r);
        }
    }
    if let Some(r) = reader.finish() {
        sink(r);
    }
    if !reader.saw_rows() {
        errors.push(HexDumpError::Empty);
    }
    (devices, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> String {
        (0..n)
            .map(|i| {
                let mut s = format!("{:02x}:", i * 16);
                for j in 0..16 {
                    s.push_str(&format!(" {:02x}", (i * 16 + j) as u8));
                }
                s.push('\n');
                s
            })
            .collect()
    }

    /// The digit-by-digit decoder the word-at-a-time [`plain_row`] replaced.
    fn plain_row_by_digit(rest: &[u8]) -> Option<[u8; 16]> {
        let rest: &[u8; 47] = rest.try_into().ok()?;
        let mut bytes = [0u8; 16];
        for (i, b) in bytes.iter_mut().enumerate() {
            let (hi, lo) = (
                HEX_DIGIT[usize::from(rest[i * 3])],
                HEX_DIGIT[usize::from(rest[i * 3 + 1])],
            );
            if hi > 15 || lo > 15 || (i < 15 && rest[i * 3 + 2] != b' ') {
                return None;
            }
            *b = hi << 4 | lo;
        }
        Some(bytes)
    }

    /// Every byte value at every position of a row, on rows of every digit: the word-at-a-time
    /// decoder agrees with the digit-by-digit one, including on what it rejects.
    #[test]
    fn plain_row_agrees_with_digit_by_digit() {
        let digits = b"0123456789abcdefABCDEF";
        let mut rows: Vec<Vec<u8>> = (0..digits.len())
            .map(|r| {
                (0..16)
                    .flat_map(|i| [digits[(r + i) % 22], digits[(r + 3 * i + 1) % 22], b' '])
                    .take(47)
                    .collect()
            })
            .collect();
        // The all-zero row has its own shortcut.
        rows.push(ZERO_ROW.to_vec());
        for row in rows {
            assert_eq!(plain_row(&row), plain_row_by_digit(&row));
            assert!(plain_row(&row).is_some());
            for pos in 0..row.len() {
                for v in 0..=255u8 {
                    let mut bad = row.clone();
                    bad[pos] = v;
                    assert_eq!(plain_row(&bad), plain_row_by_digit(&bad), "{pos} {v:#x}");
                }
            }
        }
        assert_eq!(plain_row(b""), None);
        assert_eq!(plain_row(&[b'0'; 48]), None);
    }

    /// Reads `text` as the CLI does: rows many at a time where [`HexDumpReader::push_rows`]
    /// takes them, every other line through `push_line`; returns devices and errors with
    /// the reader's line count.
    fn read_in_batches(text: &str) -> (Vec<Result<HexDump, HexDumpError>>, usize) {
        let mut reader = HexDumpReader::new();
        let mut out = Vec::new();
        let mut pos = 0;
        while pos <= text.len() {
            let (_, bytes) = reader.push_rows(&text[pos..]);
            pos += bytes;
            if pos > text.len() {
                break;
            }
            let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
            out.extend(reader.push_line(&text[pos..end]));
            pos = end + 1;
        }
        out.extend(reader.finish());
        (out, reader.line_no)
    }

    /// The same, one line at a time.
    fn read_by_line(text: &str) -> (Vec<Result<HexDump, HexDumpError>>, usize) {
        let mut reader = HexDumpReader::new();
        let mut out: Vec<_> = text
            .split('\n')
            .filter_map(|l| reader.push_line(l))
            .collect();
        out.extend(reader.finish());
        (out, reader.line_no)
    }

    #[test]
    fn rows_in_batches_read_like_line_by_line() {
        let big = rows(256);
        let cases = [
            format!("00:00.0 A\n{}00:01.0 B\n{big}", rows(4)),
            format!("00:00.0 A\n{big}"),
            format!("00:00.0 A\n{}", rows(4).trim_end()),
            format!("00:00.0 A\n{}\n\n00:01.0 B\n{}", rows(16), rows(5)),
            format!("00:00.0 A\n{}", rows(4).replace("20: 20", "30: 20")),
            format!("00:00.0 A\n{}", rows(4).replace("10: 10", "10:  10")),
            format!("00:00.0 A\n{}", rows(4).replace("\n", "\r\n")),
            format!("00:00.0 A\n{}", rows(4).replace("3a", "3A")),
            format!(
                "00:00.0 A\n{}",
                big.replace("a0: ", "A0: ").replace("1f0: ", "1F0: ")
            ),
            format!("00:00.0 A\n{}", rows(4).replace("10: ", "010: ")),
            format!("00:00.0 A\n{}", rows(4).replace("0f\n", "0f \n")),
            format!("{}00:00.0 A\n{}", rows(1), rows(3)),
            format!("00:00.0 A\n{}{}", big, rows(2)),
            rows(4)
                .lines()
                .map(|l| format!("h1: {l}\n"))
                .collect::<String>(),
        ];
        for text in &cases {
            assert_eq!(read_in_batches(text), read_by_line(text), "{text:?}");
        }
        // And the batches do take lspci's rows: all 256 after the header line at once.
        let mut reader = HexDumpReader::new();
        assert!(reader.push_line("00:00.0 A").is_none());
        assert_eq!(reader.push_rows(&big), (256, big.len()));
    }

    #[test]
    fn reads_two_devices() {
        let text = format!(
            "00:00.0 Host bridge: X\n{}\n0000:01:00.0 VGA: Y\n\tControl: I/O+\n{}",
            rows(4),
            rows(16)
        );
        let (devs, errs) = read_hex_dumps(&text);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(devs.len(), 2);
        assert_eq!(devs[0].bytes.len(), 64);
        assert_eq!(devs[1].bytes.len(), 256);
        assert_eq!(devs[1].bytes[0x42], 0x42);
        assert_eq!(devs[1].line, 7);
    }

    #[test]
    fn missing_row_names_line_and_keeps_others() {
        let mut r = rows(4);
        r = r.replace("20: 20", "30: 20");
        let text = format!("00:00.0 A\n{r}00:01.0 B\n{}", rows(4));
        let (devs, errs) = read_hex_dumps(&text);
        assert_eq!(devs.len(), 1);
        assert_eq!(devs[0].address.to_string(), "0000:00:01.0");
        assert!(
            matches!(errs[0], HexDumpError::MissingRow { line: 4, .. }),
            "{errs:?}"
        );
    }

    #[test]
    fn truncated_device_is_an_error() {
        let text = format!("00:00.0 A\n{}", rows(3));
        let (devs, errs) = read_hex_dumps(&text);
        assert!(devs.is_empty());
        assert!(matches!(errs[0], HexDumpError::Truncated { len: 48, .. }));
    }

    #[test]
    fn pdsh_prefix() {
        let text: String = format!("00:00.0 A\n{}", rows(4))
            .lines()
            .map(|l| format!("node7: {l}\n"))
            .collect();
        let (devs, errs) = read_hex_dumps(&text);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(devs[0].host.as_deref(), Some("node7"));
    }
}
