//! Bounds-checked little-endian reads from a config-space buffer.

/// A config-space buffer. Every read returns `None` past the end instead of panicking.
#[derive(Debug, Clone, Copy)]
pub struct Cfg<'a> {
    bytes: &'a [u8],
}

impl<'a> Cfg<'a> {
    /// Wraps the bytes read from a device.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// Number of readable bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True when no bytes were read.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The byte at `off`.
    pub fn u8(&self, off: u16) -> Option<u8> {
        self.bytes.get(off as usize).copied()
    }

    /// The little-endian 16-bit word at `off`.
    pub fn u16(&self, off: u16) -> Option<u16> {
        let o = off as usize;
        let b = self.bytes.get(o..o + 2)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }

    /// The little-endian 32-bit dword at `off`.
    pub fn u32(&self, off: u16) -> Option<u32> {
        let o = off as usize;
        let b = self.bytes.get(o..o + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The bytes `off..off+len`, if all are present.
    pub fn slice(&self, off: u16, len: usize) -> Option<&'a [u8]> {
        let o = off as usize;
        self.bytes.get(o..o.checked_add(len)?)
    }
}

/// `+` when `bit` is set in `value`, `-` otherwise: lspci's flag notation.
pub fn flag(value: u32, bit: u32) -> char {
    if value & bit != 0 {
        '+'
    } else {
        '-'
    }
}

/// [`flag`] as text, for lines built by concatenation ([`super::line_fmt::concat`]).
pub fn sign(value: u32, bit: u32) -> &'static str {
    if value & bit != 0 {
        "+"
    } else {
        "-"
    }
}
