//! The lines of a `pdsh` host's text that could start a device, noted by the
//! demultiplexer while it gathers them.
//!
//! The block memo cuts a node's text at device header lines, which are always at column 0.
//! For a file it finds them by walking every line (a newline search and a first-byte test
//! per line, 95% of them indented); a `pdsh` host's text was already walked line by line
//! when the demultiplexer copied it, so that walk notes the few column-0 lines (a GPU
//! server has about 170 of 6,800) and whether any line is too long for the parser, and the
//! memo reads only those ([`super::blocks::read_host_text`]).

use trainyard_pci::text::MAX_LINE_LEN;

/// One line of a host's text that starts at column 0: not empty, and its first byte is
/// neither a tab nor a space (the lines `read_blocks` in `blocks.rs` tests with
/// `starts_device`; every other line is indented or blank and never starts a device).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Head {
    /// Offset of the line's first byte in the text.
    pub(super) start: usize,
    /// Offset of the line's end (its newline) in the text.
    pub(super) end: usize,
    /// The line's index in the text, from 0.
    pub(super) index: usize,
}

/// Most column-0 lines noted per host (24 bytes each, so at most 192 KiB): a GPU server
/// prints a few hundred, but a host's text of up to 64 MiB of short unindented lines (not
/// lspci output) would otherwise note 24 bytes for every 2 of text. Past this the host's
/// text is walked line by line as a file's is.
pub(super) const MAX_HEADS: usize = 8 << 10;

/// What the demultiplexer noted of a host's lines: the column-0 ones, and whether any is
/// over [`MAX_LINE_LEN`].
#[derive(Debug, Default)]
pub(super) struct Heads {
    heads: Vec<Head>,
    long_line: bool,
    /// More than [`MAX_HEADS`] column-0 lines: `heads` holds only the first ones.
    overflow: bool,
}

impl Heads {
    /// Notes a line of the text, `line` without its newline, at offset `start`, line
    /// `index`.
    pub(super) fn note(&mut self, start: usize, line: &[u8], index: usize) {
        if line.len() > MAX_LINE_LEN {
            self.long_line = true;
        }
        if starts_at_column_zero(line) {
            self.push(start, start + line.len(), index);
        }
    }

    /// Notes a column-0 line (see [`Head`]) from `start` to `end` (its
    /// newline), line `index`, not over [`MAX_LINE_LEN`]: the demultiplexer's per-line
    /// path, which has already done both tests.
    #[inline]
    pub(super) fn push(&mut self, start: usize, end: usize, index: usize) {
        if self.heads.len() < MAX_HEADS {
            self.heads.push(Head { start, end, index });
        } else {
            self.overflow = true;
        }
    }

    /// Whether more than [`MAX_HEADS`] column-0 lines came (then [`Self::heads`] lacks
    /// some, and the text must be walked instead).
    pub(super) fn overflow(&self) -> bool {
        self.overflow
    }

    /// The column-0 lines, in the order of the text.
    pub(super) fn heads(&self) -> &[Head] {
        &self.heads
    }

    /// Whether some line is over [`MAX_LINE_LEN`] (then the text is not the memo's clean
    /// case).
    pub(super) fn long_line(&self) -> bool {
        self.long_line
    }

    /// How many column-0 lines were noted, to reserve room for the next host's.
    pub(super) fn len(&self) -> usize {
        self.heads.len()
    }

    /// Room for `n` more column-0 lines.
    pub(super) fn reserve(&mut self, n: usize) {
        self.heads.reserve(n);
    }

    /// Forgets every line, keeping the memory for reuse.
    pub(super) fn clear(&mut self) {
        self.heads.clear();
        self.long_line = false;
        self.overflow = false;
    }
}

/// Whether a line (without its newline) starts at column 0: not empty, and not starting
/// with a tab or a space.
#[inline]
fn starts_at_column_zero(line: &[u8]) -> bool {
    !matches!(line.first(), None | Some(b'\t' | b' '))
}

/// The [`Heads`] of a whole text, noted line by line as the demultiplexer does.
#[cfg(test)]
pub(super) fn of_text(text: &[u8]) -> Heads {
    let mut heads = Heads::default();
    let mut start = 0;
    for (index, line) in text.split_inclusive(|&b| b == b'\n').enumerate() {
        heads.note(start, line.strip_suffix(b"\n").unwrap_or(line), index);
        start += line.len();
    }
    heads
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_column_zero_lines_and_long_ones() {
        let mut heads = Heads::default();
        let lines: [&[u8]; 5] = [b"00:00.0 Host bridge", b"\tControl: I/O-", b"", b" x", b"y"];
        let mut start = 0;
        for (i, l) in lines.iter().enumerate() {
            heads.note(start, l, i);
            start += l.len() + 1;
        }
        let got: Vec<(usize, usize, usize)> = heads
            .heads()
            .iter()
            .map(|h| (h.start, h.end, h.index))
            .collect();
        assert_eq!(got, vec![(0, 19, 0), (39, 40, 4)]);
        assert!(!heads.long_line());
        heads.note(start, &vec![b'\t'; MAX_LINE_LEN + 1], 5);
        assert!(heads.long_line());
        assert_eq!(heads.len(), 2);
        heads.clear();
        assert!(heads.heads().is_empty() && !heads.long_line());
        for i in 0..=MAX_HEADS {
            heads.note(2 * i, b"x", i);
        }
        assert!(heads.overflow() && heads.len() == MAX_HEADS);
        heads.clear();
        assert!(!heads.overflow());
    }
}
