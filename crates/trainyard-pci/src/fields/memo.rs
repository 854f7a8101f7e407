//! A bounded memo of tokenized lines: (context, line text) → the settings it produced.
//!
//! Real input repeats itself: a GPU server has eight identical GPUs and dozens of identical
//! switch ports, and a fleet dump repeats most lines once per node. A line seen before in
//! the same context costs a hash, one comparison and a copy instead of the tokenizer.
//!
//! The key is everything the line's settings depend on, written out as bytes (the block,
//! the register the line continues, the text), and hits compare the whole key, so a hash
//! collision can cost a miss but never a wrong answer. Memory is bounded: when either the
//! entry count or the stored bytes reach their cap, the memo starts over empty. An input of
//! all-distinct lines therefore keeps at most [`MAX_BYTES`] (plus the table) and pays the
//! recording cost on top of tokenizing, about a copy of each line.

/// Most entries kept before starting over.
const MAX_ENTRIES: usize = 1 << 16;
/// Most bytes of keys and recorded settings kept before starting over.
const MAX_BYTES: usize = 16 << 20;
/// Slots of the hash table: a power of two, at least twice [`MAX_ENTRIES`].
const TABLE_SLOTS: usize = MAX_ENTRIES * 2;

/// A range in [`Memo::keys`], [`Memo::text`] or [`Memo::spans`].
#[derive(Clone, Copy, Default)]
struct Range {
    start: u32,
    len: u32,
}

impl Range {
    fn get(self) -> std::ops::Range<usize> {
        self.start as usize..(self.start + self.len) as usize
    }
}

/// One remembered line.
struct Entry {
    hash: u64,
    /// In [`Memo::keys`].
    key: Range,
    /// Keys and values of its settings, back to back (in [`Memo::text`]).
    text: Range,
    /// Its settings: spans relative to `text`, and key hashes (in [`Memo::spans`] and
    /// [`Memo::hashes`]).
    spans: Range,
    /// The register key continuation lines extend after this line, and whether there is one.
    cur: Range,
    has_cur: bool,
}

/// What a hit hands back.
pub(crate) struct Hit<'a> {
    /// Keys and values.
    pub text: &'a str,
    /// Spans relative to `text`.
    pub spans: &'a [[u32; 3]],
    /// Key hashes.
    pub hashes: &'a [u32],
    /// The register key after the line.
    pub cur: &'a str,
    /// Whether continuation lines extend `cur`.
    pub has_cur: bool,
}

/// The memo. See the [module docs](self).
#[derive(Default)]
pub(crate) struct Memo {
    /// `1 + entry index` per slot, 0 for empty; allocated on first use.
    table: Vec<u32>,
    entries: Vec<Entry>,
    /// Keys (text with binary lengths in it).
    keys: Vec<u8>,
    /// Recorded settings and register keys.
    text: String,
    spans: Vec<[u32; 3]>,
    hashes: Vec<u32>,
    /// Lookups and hits, for the benchmark notes (`TRAINYARD_LOG=trainyard_pci=debug`).
    pub(crate) lookups: u64,
    pub(crate) hits: u64,
}

impl Memo {
    /// Hash of a key.
    #[inline]
    pub(crate) fn hash(key: &[u8]) -> u64 {
        crate::fxhash::hash_bytes(0x9e37_79b9_7f4a_7c15, key)
    }

    /// The entry for `key` (whose hash is `hash`), if remembered.
    #[inline]
    pub(crate) fn get(&mut self, hash: u64, key: &[u8]) -> Option<Hit<'_>> {
        self.lookups += 1;
        if self.table.is_empty() {
            return None;
        }
        let mask = TABLE_SLOTS - 1;
        let mut pos = (hash >> 32) as usize & mask;
        loop {
            let slot = self.table[pos];
            if slot == 0 {
                return None;
            }
            let e = &self.entries[slot as usize - 1];
            if e.hash == hash && &self.keys[e.key.get()] == key {
                self.hits += 1;
                let spans = e.spans.get();
                return Some(Hit {
                    text: &self.text[e.text.get()],
                    spans: &self.spans[spans.clone()],
                    hashes: &self.hashes[spans],
                    cur: &self.text[e.cur.get()],
                    has_cur: e.has_cur,
                });
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Remembers what the line with `key` produced: `text` from its device buffer, `spans`
    /// into that buffer starting at `base`.
    pub(crate) fn insert(
        &mut self,
        hash: u64,
        key: &[u8],
        (base, text, spans, hashes): (usize, &str, &[[u32; 3]], &[u32]),
        cur: &str,
        has_cur: bool,
    ) {
        let add = key.len() + text.len() + cur.len();
        if add > MAX_BYTES / 64 {
            return; // one huge line is not worth keeping
        }
        if self.entries.len() >= MAX_ENTRIES
            || self.keys.len() + self.text.len() + add > MAX_BYTES
            || self.spans.len() + spans.len() > MAX_BYTES / 16
        {
            self.clear();
        }
        if self.table.is_empty() {
            self.table = vec![0; TABLE_SLOTS];
        }
        // Every length fits u32: the arenas stay under MAX_BYTES.
        let key_range = Range {
            start: self.keys.len() as u32,
            len: key.len() as u32,
        };
        self.keys.extend_from_slice(key);
        let mut put = |s: &str| {
            let start = self.text.len() as u32;
            self.text.push_str(s);
            Range {
                start,
                len: s.len() as u32,
            }
        };
        let text_range = put(text);
        let cur_range = put(cur);
        let span_range = Range {
            start: self.spans.len() as u32,
            len: spans.len() as u32,
        };
        let base = base as u32; // spans are u32, so is any base they are relative to
        self.spans.extend(
            spans
                .iter()
                .map(|&[s, k, e]| [s - base, k - base, e - base]),
        );
        self.hashes.extend_from_slice(hashes);
        self.entries.push(Entry {
            hash,
            key: key_range,
            text: text_range,
            spans: span_range,
            cur: cur_range,
            has_cur,
        });
        let index = self.entries.len() as u32;
        let mask = TABLE_SLOTS - 1;
        let mut pos = (hash >> 32) as usize & mask;
        while self.table[pos] != 0 {
            pos = (pos + 1) & mask;
        }
        self.table[pos] = index;
    }

    fn clear(&mut self) {
        self.table.fill(0);
        self.entries.clear();
        self.keys.clear();
        self.text.clear();
        self.spans.clear();
        self.hashes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_compares_whole_keys() {
        let mut m = Memo::default();
        let h = Memo::hash(b"k1");
        m.insert(h, b"k1", (10, "AB", &[[10, 11, 12]], &[7]), "cur", true);
        let hit = m
            .get(h, b"k1")
            .map(|h| (h.text.to_string(), h.cur.to_string()));
        assert_eq!(hit, Some(("AB".into(), "cur".into())));
        // Same hash, different key: a miss, not a wrong hit.
        assert!(m.get(h, b"k2").is_none());
    }

    #[test]
    fn starts_over_when_full() {
        let mut m = Memo::default();
        for i in 0..MAX_ENTRIES + 10 {
            let key = format!("key{i}");
            let h = Memo::hash(key.as_bytes());
            m.insert(h, key.as_bytes(), (0, "", &[], &[]), "", false);
        }
        assert!(m.entries.len() <= MAX_ENTRIES);
        let k = format!("key{}", MAX_ENTRIES + 9);
        assert!(m.get(Memo::hash(k.as_bytes()), k.as_bytes()).is_some());
        assert!(m.get(Memo::hash(b"key0"), b"key0").is_none());
    }
}
