//! Formatting of rendered lines without growing a `String` step by step.
//!
//! `format!` starts from a guess of the output size (about twice the literal text) and
//! reallocates as the arguments come in; a register line with a dozen flags grew three or
//! four times, and those reallocations were a tenth of `pci decode`. Here a line is
//! formatted into a buffer on the stack and copied out once at its exact size: one
//! allocation per line, no regrowth, and no spare capacity kept in the [`Line`].

use std::fmt::{self, Write as _};

use crate::device::Line;

/// Lines longer than this spill into a heap buffer (none of lspci's register lines does).
const STACK: usize = 256;

/// A stack buffer that spills to the heap when full.
struct Buf {
    bytes: [u8; STACK],
    len: usize,
    spill: Option<String>,
}

impl fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(spill) = &mut self.spill {
            spill.push_str(s);
            return Ok(());
        }
        match self.bytes.get_mut(self.len..self.len + s.len()) {
            Some(room) => {
                room.copy_from_slice(s.as_bytes());
                self.len += s.len();
            }
            None => {
                let mut spill = String::with_capacity(2 * STACK + s.len());
                spill.push_str(self.as_str());
                spill.push_str(s);
                self.spill = Some(spill);
            }
        }
        Ok(())
    }
}

impl Buf {
    /// The text so far (without spill). Whole `str`s were copied in, so it is UTF-8.
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// An empty buffer for a line built piece by piece (`write!`, `push_str`), large enough for
/// any register line: pushed with `Line::reg(buf.as_str())`, the line gets an exact copy.
pub(crate) fn line_buf() -> String {
    String::with_capacity(STACK)
}

/// `format!` with an exactly sized result.
pub(crate) fn text(args: fmt::Arguments<'_>) -> String {
    if let Some(s) = args.as_str() {
        return s.to_string();
    }
    let mut buf = Buf {
        bytes: [0; STACK],
        len: 0,
        spill: None,
    };
    // Writing into memory cannot fail (a `Display` impl that errs leaves what it wrote,
    // as `format!` would panic instead; ours never err).
    let _ = buf.write_fmt(args);
    match buf.spill {
        Some(s) => s,
        None => buf.as_str().to_string(),
    }
}

/// A register line (depth 0): `line_fmt::reg(format_args!(..))` without regrowth.
pub(crate) fn reg(args: fmt::Arguments<'_>) -> Line {
    Line {
        depth: 0,
        text: text(args),
    }
}

/// A continuation line (depth 1): `line_fmt::cont(format_args!(..))` without regrowth.
pub(crate) fn cont(args: fmt::Arguments<'_>) -> Line {
    Line {
        depth: 1,
        text: text(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_as_format() {
        let long = "x".repeat(300);
        for s in ["", "plain", "é and ü", long.as_str()] {
            assert_eq!(text(format_args!("{s}")), s);
            assert_eq!(text(format_args!("a{s}b{}", 7)), format!("a{s}b{}", 7));
            assert_eq!(reg(format_args!("R: {s}")).text, format!("R: {s}"));
            assert_eq!(cont(format_args!("{s}{s}")).depth, 1);
        }
        // Spilling in the middle of an argument keeps everything.
        let mid = "y".repeat(250);
        assert_eq!(
            text(format_args!("{mid}{mid}{}", 1)),
            format!("{mid}{mid}1")
        );
    }
}
