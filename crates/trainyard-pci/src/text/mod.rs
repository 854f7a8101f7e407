//! Streaming parser for `lspci -v`/`-vv`/`-vvv` text.
//!
//! Feed lines to a [`TextParser`]; it hands back each [`Device`] as soon as the device's last
//! line has been seen, holding only the devices still being read (one per host for `pdsh`
//! output, whose hosts interleave). Every line is accounted for: it becomes part of a device
//! (header line, capability line, hex row, wrapped continuation) or a [`Diagnostic`].
//!
//! Variants handled: `-v`, `-vv`, `-vvv`, `-nn`, `-D`, `-k`, `-PP` paths, no domain,
//! `<access denied>`, `(downgraded)`/`(ok)`, tabs or spaces (pasted into Markdown), lines
//! wrapped by mail clients, hex rows from `-x`/`-xxx`/`-xxxx`, and `host: ` prefixes from
//! `pdsh`/`clush`.

mod block_memo;
pub mod header_line;
pub mod parallel;
mod parser;
mod reader;

pub use parser::{
    pdsh_decision, starts_device, Diagnostic, DiagnosticKind, GroupSettings, TextParser,
};
pub use reader::{
    parse_reader, parse_str, read_limited_line, text_lines_at_start, LspciReader, ParseError,
    ParseErrorKind, ParseOutput, MAX_LINE_LEN,
};
