//! Byte-level front of the text parser: splits any [`BufRead`] into lines with a length cap,
//! rejects binary input, and drives [`TextParser`].

use std::collections::VecDeque;
use std::io::BufRead;

use super::parser::{Diagnostic, TextParser};
use crate::device::Device;

/// Longest line accepted. lspci's longest lines (VPD strings, long device names) stay well
/// under 1 KiB; a longer line means the input is not lspci text, and capping it keeps a
/// multi-gigabyte line from being read into memory.
pub const MAX_LINE_LEN: usize = 4096;

/// A line the parser had to reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub kind: ParseErrorKind,
}

/// What is wrong with a rejected line or input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Longer than [`MAX_LINE_LEN`].
    #[error("line is {0} bytes long; lspci never prints lines over {MAX_LINE_LEN} bytes (not lspci output?)")]
    LineTooLong(usize),
    /// NUL bytes or invalid UTF-8.
    #[error("binary data (NUL bytes or invalid UTF-8): not lspci text; for raw config space use `trainyard pci decode`")]
    Binary,
    /// The last line has no newline: the input was cut.
    #[error("input ends in the middle of a line: the file looks truncated")]
    Truncated,
    /// No device header line anywhere.
    #[error("no PCI devices found (expected lines such as `17:00.0 3D controller: NVIDIA ...` from lspci)")]
    NoDevices,
    /// Reading failed.
    #[error("read error: {0}")]
    Io(String),
}

/// Iterator over the devices of an lspci text stream; errors come out in line order
/// between devices, and iteration continues after them.
pub struct LspciReader<R> {
    input: R,
    parser: TextParser,
    buf: Vec<u8>,
    pending_errors: VecDeque<ParseError>,
    done: bool,
    /// Whether the input is a piece of a larger one (no `NoDevices` error at its end).
    piece: bool,
    /// Whether the input ended at its end (not at a read error).
    clean_end: bool,
}

impl<R: BufRead> LspciReader<R> {
    /// Reads lspci text from `input`.
    pub fn new(input: R) -> Self {
        Self {
            input,
            parser: TextParser::new(),
            buf: Vec::with_capacity(256),
            pending_errors: VecDeque::new(),
            done: false,
            piece: false,
            clean_end: false,
        }
    }

    /// Reads lspci text from `input` in fields-only mode (see [`TextParser::fields_only`]):
    /// the same settings, without keeping each device's lines.
    pub fn fields_only(input: R) -> Self {
        Self {
            parser: TextParser::fields_only(),
            ..Self::new(input)
        }
    }

    /// Reads a piece of a larger input that starts at a device boundary
    /// ([`super::starts_device`]): lines are numbered after `lines_before`, `pdsh` is what
    /// the input's first pieces decided, and an empty piece is no error (the whole input
    /// decides whether it had devices).
    pub fn piece(mut self, lines_before: usize, pdsh: Option<bool>) -> Self {
        self.parser.set_line_no(lines_before);
        self.parser.set_pdsh(pdsh);
        self.piece = true;
        self
    }

    /// Reads `input` with `parser`, which carries on from where it was (line number,
    /// `pdsh`, its caches): for feeding one input in parts, each read to its end, through
    /// one parser ([`super::block_memo`] parses a piece block by block this way). Like
    /// [`LspciReader::piece`], reaching the end is no `NoDevices` error.
    pub(crate) fn with_parser(input: R, parser: TextParser) -> Self {
        Self {
            input,
            parser,
            // Grown on the first line that needs it (most never do: whole lines are read
            // where they lie).
            buf: Vec::new(),
            pending_errors: VecDeque::new(),
            done: false,
            piece: true,
            clean_end: false,
        }
    }

    /// The parser back, once the input is read (see [`LspciReader::with_parser`]).
    pub(crate) fn into_parser(self) -> TextParser {
        self.parser
    }

    /// Whether the input was read to its end without a read error (once iteration is over).
    pub fn reached_end(&self) -> bool {
        self.clean_end
    }

    /// The parser, for its line number and memo statistics.
    pub fn parser(&self) -> &TextParser {
        &self.parser
    }

    /// Takes the diagnostics (lines that belong to no device) gathered so far.
    pub fn take_diagnostics(&mut self) -> Vec<Diagnostic> {
        self.parser.take_diagnostics()
    }

    fn step(&mut self) -> Option<Result<Device, ParseError>> {
        loop {
            if let Some(d) = self.parser.next_device() {
                return Some(Ok(d));
            }
            if let Some(e) = self.pending_errors.pop_front() {
                return Some(Err(e));
            }
            if self.done {
                return None;
            }
            // Fast path: a whole line in the reader's buffer is parsed where it lies, without
            // copying it out. Anything else (a line across buffer refills, a long line, end
            // of input, an error) takes the general path below.
            if let Ok(available) = self.input.fill_buf() {
                // Fastest path: the buffer's complete lines, validated as text (no NUL,
                // UTF-8) in one pass instead of line by line, and parsed where they lie. It
                // stops before a damaged or overlong line, which the paths below take.
                if let Some(text) = text_lines_at_start(available) {
                    let mut consumed = 0;
                    // memchr's newline search beats `str::split`'s by a wide margin.
                    let ends = memchr::memchr_iter(b'\n', text.as_bytes()).chain([text.len()]);
                    for end in ends {
                        let Some(line) = text.get(consumed..end) else {
                            break;
                        };
                        if line.len() > MAX_LINE_LEN {
                            break;
                        }
                        self.parser.push_line(line);
                        consumed = end + 1;
                    }
                    if consumed > 0 {
                        self.input.consume(consumed);
                        continue;
                    }
                }
                if let Some(i) = memchr::memchr(b'\n', available).filter(|&i| i <= MAX_LINE_LEN) {
                    match line_text(&available[..i]) {
                        Some(text) => self.parser.push_line(&text),
                        None => {
                            self.parser.skip_line();
                            self.pending_errors.push_back(ParseError {
                                line: self.parser.line_no(),
                                kind: ParseErrorKind::Binary,
                            });
                        }
                    }
                    self.input.consume(i + 1);
                    continue;
                }
            }
            match read_limited_line(&mut self.input, &mut self.buf, MAX_LINE_LEN) {
                Err(e) => {
                    self.parser.skip_line();
                    self.done = true;
                    self.parser.finish();
                    self.pending_errors.push_back(ParseError {
                        line: self.parser.line_no(),
                        kind: ParseErrorKind::Io(e.to_string()),
                    });
                }
                Ok(None) => {
                    self.done = true;
                    self.clean_end = true;
                    self.parser.finish();
                    if self.parser.devices_seen() == 0 && !self.piece {
                        self.pending_errors.push_back(ParseError {
                            line: self.parser.line_no(),
                            kind: ParseErrorKind::NoDevices,
                        });
                    }
                }
                Ok(Some((len, newline))) => {
                    if len > MAX_LINE_LEN {
                        self.parser.skip_line();
                        self.pending_errors.push_back(ParseError {
                            line: self.parser.line_no(),
                            kind: ParseErrorKind::LineTooLong(len),
                        });
                        continue;
                    }
                    match line_text(&self.buf) {
                        Some(text) => self.parser.push_line(&text),
                        None => {
                            self.parser.skip_line();
                            self.pending_errors.push_back(ParseError {
                                line: self.parser.line_no(),
                                kind: ParseErrorKind::Binary,
                            });
                            continue;
                        }
                    }
                    if !newline {
                        self.pending_errors.push_back(ParseError {
                            line: self.parser.line_no(),
                            kind: ParseErrorKind::Truncated,
                        });
                    }
                }
            }
        }
    }
}

impl<R: BufRead> Iterator for LspciReader<R> {
    type Item = Result<Device, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step()
    }
}

/// The complete lines at the start of `bytes` that are text (no NUL, valid UTF-8), without
/// the newline after the last of them; `None` when the first line is not complete text.
/// Validating a buffer's worth of lines at once is much cheaper than line by line.
pub fn text_lines_at_start(bytes: &[u8]) -> Option<&str> {
    let last = memchr::memrchr(b'\n', bytes)?;
    let block = &bytes[..last];
    let nul = memchr::memchr(0, block).unwrap_or(block.len());
    let good = match std::str::from_utf8(&block[..nul]) {
        Ok(t) if nul == block.len() => return Some(t),
        Ok(_) => nul,
        Err(e) => e.valid_up_to(),
    };
    // Damage at `good`: the lines that end before it.
    let end = memchr::memrchr(b'\n', &block[..good])?;
    std::str::from_utf8(&block[..end]).ok()
}

/// The text of a line, or `None` when it is binary data.
///
/// lspci itself can print a stray non-UTF-8 byte (an interrupt pin register past `Z` is
/// printed as the raw byte `'A' + pin - 1`, VPD strings are vendor bytes), so a few invalid
/// sequences are replaced with U+FFFD; NUL bytes or more than a few invalid sequences mean
/// the input is not text.
pub(crate) fn line_text(bytes: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    if memchr::memchr(0, bytes).is_some() {
        return None;
    }
    match std::str::from_utf8(bytes) {
        Ok(t) => Some(std::borrow::Cow::Borrowed(t)),
        Err(_) => {
            let lossy = String::from_utf8_lossy(bytes);
            let bad = lossy.matches(char::REPLACEMENT_CHARACTER).count();
            (bad <= 2).then_some(lossy)
        }
    }
}

/// Reads one line from `input` into `buf` (newline excluded), keeping at most `max` bytes
/// so that a huge line cannot exhaust memory. Returns the line's full length and whether it
/// ended with a newline, or `None` at end of input.
pub fn read_limited_line<R: BufRead>(
    input: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<(usize, bool)>> {
    buf.clear();
    let mut total = 0usize;
    loop {
        let available = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok((total > 0).then_some((total, false)));
        }
        let (chunk, found) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..i], true),
            None => (available, false),
        };
        let room = max.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        total += chunk.len();
        let consumed = chunk.len() + usize::from(found);
        input.consume(consumed);
        if found {
            return Ok(Some((total, true)));
        }
    }
}

/// Everything read from one input.
#[derive(Debug, Default)]
pub struct ParseOutput {
    /// Devices in the order they completed.
    pub devices: Vec<Device>,
    /// Rejected lines and input-level errors.
    pub errors: Vec<ParseError>,
    /// Lines that belong to no device.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses lspci text from any reader, collecting devices, errors and diagnostics.
pub fn parse_reader<R: BufRead>(input: R) -> ParseOutput {
    let mut reader = LspciReader::new(input);
    let mut out = ParseOutput::default();
    for item in reader.by_ref() {
        match item {
            Ok(d) => out.devices.push(d),
            Err(e) => out.errors.push(e),
        }
    }
    out.diagnostics = reader.take_diagnostics();
    out
}

/// Parses lspci text held in memory.
pub fn parse_str(text: &str) -> ParseOutput {
    parse_reader(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_is_an_error() {
        let out = parse_str("");
        assert!(out.devices.is_empty());
        assert_eq!(out.errors[0].kind, ParseErrorKind::NoDevices);
    }

    #[test]
    fn long_line_is_rejected_and_the_rest_kept() {
        let text = format!(
            "00:00.0 Host bridge: X\n\tControl: I/O+\n{}\n00:01.0 PCI bridge: Y\n\tControl: I/O-\n",
            "x".repeat(10_000)
        );
        let out = parse_str(&text);
        assert_eq!(out.devices.len(), 2);
        assert_eq!(out.errors.len(), 1);
        assert_eq!(out.errors[0].line, 3);
        assert!(matches!(
            out.errors[0].kind,
            ParseErrorKind::LineTooLong(10_000)
        ));
    }

    #[test]
    fn binary_and_truncation() {
        let mut bytes = b"00:00.0 Host bridge: X\n\tControl: I/O+\n".to_vec();
        bytes.extend_from_slice(&[0xff, 0x00, 0x13, b'\n']);
        bytes.extend_from_slice(b"\tStatus: Cap+ 66M");
        let out = parse_reader(&bytes[..]);
        assert_eq!(out.devices.len(), 1);
        let kinds: Vec<_> = out
            .errors
            .iter()
            .map(|e| (e.line, e.kind.clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![(3, ParseErrorKind::Binary), (4, ParseErrorKind::Truncated)]
        );
    }
}
