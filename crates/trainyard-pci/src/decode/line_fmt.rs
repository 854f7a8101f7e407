//! Formatting of rendered lines without growing a `String` step by step.
//!
//! `format!` starts from a guess of the output size (about twice the literal text) and
//! reallocates as the arguments come in; a register line with a dozen flags grew three or
//! four times, and those reallocations were a tenth of `pci decode`. Here a line is
//! formatted into a buffer reused from line to line (one per thread) and copied out once at
//! its exact size: one allocation per line, no regrowth, and no spare capacity kept in the
//! [`Line`].

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use crate::device::Line;

/// Capacity of [`line_buf`]: more than any of lspci's register lines needs.
const LINE: usize = 256;

thread_local! {
    /// The buffer [`text`] formats into; keeps its capacity between lines.
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Appends flags as lspci prints them: for each `(name, bit)`, the name (with its leading
/// space, where it has one) and `+` or `-` for `bit` in `value`. Registers print runs of
/// these; one table per run reads like lspci's output and keeps bits next to their names.
pub(crate) fn push_flags(out: &mut String, value: u32, flags: &[(&str, u32)]) {
    for &(name, bit) in flags {
        out.push_str(name);
        out.push(super::cfg::flag(value, bit));
    }
}

/// An empty buffer for a line built piece by piece (`write!`, `push_str`), large enough for
/// any register line: pushed with `Line::reg(buf.as_str())`, the line gets an exact copy.
pub(crate) fn line_buf() -> String {
    String::with_capacity(LINE)
}

/// Appends `v` in decimal (`{v}`) without the formatting machinery.
pub(crate) fn push_dec(out: &mut String, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

/// A number in decimal, for [`concat`]: `Dec::new(v).as_str()` is `v.to_string()` without
/// an allocation or the formatting machinery.
pub(crate) struct Dec {
    digits: [u8; 20],
    at: usize,
}

impl Dec {
    /// `v` in decimal.
    pub(crate) fn new(mut v: u64) -> Self {
        let mut d = Dec {
            digits: [0; 20],
            at: 20,
        };
        loop {
            d.at -= 1;
            d.digits[d.at] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                return d;
            }
        }
    }

    /// The digits.
    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits were written.
        std::str::from_utf8(&self.digits[self.at..]).unwrap_or_default()
    }
}

/// A number in lowercase hex zero-padded to a width (`{v:0width$x}`), for [`concat`].
pub(crate) struct Hex {
    digits: [u8; 16],
    at: usize,
}

impl Hex {
    /// `v` as at least `width` (at most 16) lowercase hex digits.
    pub(crate) fn new(mut v: u64, width: usize) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut h = Hex {
            digits: [b'0'; 16],
            at: 16,
        };
        loop {
            h.at -= 1;
            h.digits[h.at] = DIGITS[(v & 0xf) as usize];
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        h.at = h.at.min(16 - width.min(16));
        h
    }

    /// The digits.
    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits were written.
        std::str::from_utf8(&self.digits[self.at..]).unwrap_or_default()
    }
}

/// `format!` with an exactly sized result.
pub(crate) fn text(args: fmt::Arguments<'_>) -> String {
    if let Some(s) = args.as_str() {
        return s.to_string();
    }
    let format = |buf: &mut String| {
        buf.clear();
        // Writing into a `String` cannot fail (a `Display` impl that errs leaves what it
        // wrote, where `format!` would panic; ours never err).
        let _ = buf.write_fmt(args);
        buf.as_str().to_string()
    };
    SCRATCH
        .try_with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut buf) => format(&mut buf),
            // Only if formatting an argument formatted a line itself.
            Err(_) => format(&mut String::new()),
        })
        .unwrap_or_else(|_| fmt::format(args))
}

/// The line at `depth` that is `parts` put together: what `format_args!` with only string
/// arguments (flags as `+`/`-`, names from tables) would give, without the formatting
/// machinery, which cost about 40 instructions per argument on lines of a dozen flags.
pub(crate) fn concat(depth: u8, parts: &[&str]) -> Line {
    let mut text = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        text.push_str(p);
    }
    Line { depth, text }
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
        let mut n = String::new();
        for v in [0, 7, 10, 255, 4096, u64::MAX] {
            n.clear();
            push_dec(&mut n, v);
            assert_eq!(n, v.to_string());
            assert_eq!(Dec::new(v).as_str(), n);
            for width in [0, 2, 4, 8, 16] {
                assert_eq!(Hex::new(v, width).as_str(), format!("{v:0width$x}"));
            }
        }
        // A long line in several pieces keeps everything.
        let mid = "y".repeat(250);
        assert_eq!(
            text(format_args!("{mid}{mid}{}", 1)),
            format!("{mid}{mid}1")
        );
    }
}
