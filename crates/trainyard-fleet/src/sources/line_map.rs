//! Where each line of a `pdsh` host's text was in the stream it came from.

/// The stream line of each line of a host's text, kept as runs of consecutive stream lines.
///
/// `pdsh` writes a host's output in batches of a few lines, so a host of 7,000 lines has
/// about 1,500 runs: one entry per run rather than per line keeps the demultiplexer's
/// bookkeeping off the per-line path and the map a fifth of the size.
#[derive(Debug, Default)]
pub(super) struct LineMap {
    /// `(first line, its stream line)` of each run, first lines counted from 0 and
    /// increasing.
    runs: Vec<(usize, usize)>,
    /// Lines in all.
    len: usize,
}

impl LineMap {
    /// Adds `count` lines that were consecutive lines of the stream from `stream_line` on.
    #[inline]
    pub(super) fn push_run(&mut self, stream_line: usize, count: usize) {
        if count == 0 {
            return;
        }
        let continues = self
            .runs
            .last()
            .is_some_and(|&(first, at)| at + (self.len - first) == stream_line);
        if !continues {
            self.runs.push((self.len, stream_line));
        }
        self.len += count;
    }

    /// Adds one line, read from stream line `stream_line`.
    pub(super) fn push(&mut self, stream_line: usize) {
        self.push_run(stream_line, 1);
    }

    /// The stream line of line `index` (from 0), `None` past the end.
    pub(super) fn get(&self, index: usize) -> Option<usize> {
        if index >= self.len {
            return None;
        }
        // The last run that starts at or before `index`; the first run starts at 0.
        let run = self.runs.partition_point(|&(first, _)| first <= index);
        let (first, at) = self.runs[run.checked_sub(1)?];
        Some(at + (index - first))
    }

    /// How many lines there are.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// How many runs there are.
    pub(super) fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Room for `n` more runs.
    pub(super) fn reserve(&mut self, n: usize) {
        self.runs.reserve(n);
    }

    /// The stream line of the first line.
    pub(super) fn first(&self) -> Option<usize> {
        self.runs.first().map(|&(_, at)| at)
    }

    /// Forgets every line, keeping the memory for reuse.
    pub(super) fn clear(&mut self) {
        self.runs.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_each_line_as_a_list_of_lines_would() {
        let stream_lines = [3, 4, 5, 9, 10, 11, 12, 20, 22, 23];
        let mut map = LineMap::default();
        // Pushed one by one, and as runs whose joins fall inside and between runs.
        let mut runs = LineMap::default();
        for &l in &stream_lines {
            map.push(l);
        }
        runs.push_run(3, 2);
        runs.push_run(5, 1);
        runs.push_run(9, 0);
        runs.push_run(9, 4);
        runs.push_run(20, 1);
        runs.push_run(22, 2);
        for (i, &l) in stream_lines.iter().enumerate() {
            assert_eq!(map.get(i), Some(l), "line {i}");
            assert_eq!(runs.get(i), Some(l), "line {i}");
        }
        assert_eq!(map.get(stream_lines.len()), None);
        assert_eq!(map.first(), Some(3));
        assert_eq!(map.runs.len(), 4);
        assert_eq!(runs.runs, map.runs);
        map.clear();
        assert_eq!(map.get(0), None);
        assert_eq!(map.first(), None);
    }
}
