//! Where the tokenizer writes one device's settings: one text buffer with spans, key
//! canonicalization, and key numbering (`#2`, `#3`) when the device is complete.
//!
//! Settings may arrive out of order: a device read line by line sends a header line that
//! follows the capabilities (`Kernel driver in use:` under `lspci -k`) after capability
//! settings, while the order of record is all header settings first. Each setting remembers
//! its group, [`Sink::take`] puts header settings first, and only then are repeated keys
//! numbered, so the result is the same whichever order the lines came in.

use crate::device::Fields;

/// Names older lspci versions (before 3.7) printed for flags that newer ones renamed, mapped
/// to the current names so that a fleet captured with mixed pciutils versions compares.
fn canonical_key(key: &str) -> Option<&'static str> {
    Some(match key {
        "DevCtl.Correctable" => "DevCtl.CorrErr",
        "DevCtl.Non-Fatal" => "DevCtl.NonFatalErr",
        "DevCtl.Fatal" => "DevCtl.FatalErr",
        "DevCtl.Unsupported" => "DevCtl.UnsupReq",
        "DevSta.UncorrErr" => "DevSta.NonFatalErr",
        "DevSta.UnsuppReq" => "DevSta.UnsupReq",
        "CESta.NonFatalErr" => "CESta.AdvNonFatalErr",
        "CEMsk.NonFatalErr" => "CEMsk.AdvNonFatalErr",
        "AERCap.GenCap" => "AERCap.ECRCGenCap",
        "AERCap.CGenEn" => "AERCap.ECRCGenEn",
        "AERCap.ChkCap" => "AERCap.ECRCChkCap",
        "AERCap.ChkEn" => "AERCap.ECRCChkEn",
        _ => return None,
    })
}

/// Hash of a key for the uniqueness table, and for [`Fields`]' lookup index (the same
/// function as its `index_hash`: the hashes are handed over with the settings).
#[inline]
pub(crate) fn hash_key(key: &[u8]) -> u32 {
    (crate::fxhash::hash_bytes(0, key) >> 32) as u32
}

/// One slot of the key table: a key seen in this device and how often.
#[derive(Clone, Copy, Default)]
struct Slot {
    /// Device generation that filled the slot; a slot of an older generation is empty, so
    /// starting a device needs no clearing.
    generation: u32,
    /// Index of the setting that introduced the key.
    field: u32,
    hash: u32,
    count: u32,
}

/// Collects the settings of one device.
#[derive(Default)]
pub(crate) struct Sink {
    /// The device's settings so far: a scratch buffer whose capacity carries over from
    /// device to device (see [`Sink::take`]).
    fields: Fields,
    /// Per setting: hash of its key (before numbering).
    hashes: Vec<u32>,
    /// Per setting: whether a capability line produced it (else a header line).
    in_cap: Vec<bool>,
    /// Group of the settings pushed now: capability (true) or header.
    pub(crate) cap: bool,
    /// Whether any capability setting has been pushed.
    caps_seen: bool,
    /// Whether a header setting came after a capability setting.
    unordered: bool,
    /// Number of settings when the current line started: an append to an older setting
    /// makes the line's settings depend on earlier lines (see [`Sink::touched_old`]).
    pub(crate) line_start: usize,
    /// Set when the current line appended to a setting of an earlier line.
    pub(crate) touched_old: bool,
    /// Open-addressing table (power-of-two size, linear probing) of keys, for numbering.
    table: Vec<Slot>,
    generation: u32,
    used: usize,
    /// Scratch space for [`Sink::put_header_first`].
    order: Vec<usize>,
    moved_spans: Vec<[u32; 3]>,
    moved_hashes: Vec<u32>,
}

impl Sink {
    /// Starts a device.
    pub(crate) fn reset(&mut self) {
        // A scratch buffer, reused: `take` hands out an exact copy.
        self.fields.clear();
        self.hashes.clear();
        self.in_cap.clear();
        self.cap = false;
        self.caps_seen = false;
        self.unordered = false;
        self.line_start = 0;
        self.touched_old = false;
    }

    /// Number of settings so far.
    pub(crate) fn len(&self) -> usize {
        self.fields.len()
    }

    /// Bytes of key and value text so far.
    pub(crate) fn text_len(&self) -> usize {
        self.fields.text().len()
    }

    /// The text from byte `from` on and the settings from `first` on (spans relative to the
    /// whole text), with their key hashes: what one line added, for the memo to keep.
    pub(crate) fn added_since(
        &self,
        from: usize,
        first: usize,
    ) -> (usize, &str, &[[u32; 3]], &[u32]) {
        (
            from,
            &self.fields.text()[from..],
            &self.fields.spans()[first..],
            &self.hashes[first..],
        )
    }

    fn note_group(&mut self) {
        if self.cap {
            self.caps_seen = true;
        } else if self.caps_seen {
            self.unordered = true;
        }
    }

    /// Pushes a setting whose key is the concatenation of `key`.
    pub(crate) fn push(&mut self, key: &[&str], value: &str) {
        let text = self.fields.text_mut();
        let start = text.len();
        for part in key {
            text.push_str(part);
        }
        // `DevCtl: Report errors: Correctable+ ...` (lspci before 3.7) is a label, not a
        // setting: its flags follow under their own names.
        if value.is_empty() && text[start..].ends_with(".Report errors") {
            text.truncate(start);
            return;
        }
        if let Some(k) = canonical_key(&text[start..]) {
            text.truncate(start);
            text.push_str(k);
        }
        let hash = hash_key(&text.as_bytes()[start..]);
        let key_end = text.len();
        text.push_str(value);
        self.fields.push_span(start, key_end);
        if self.fields.len() > self.hashes.len() {
            self.hashes.push(hash);
            self.in_cap.push(self.cap);
            self.note_group();
        }
    }

    /// Appends settings recorded earlier: `text` holds their keys and values, `spans` are
    /// relative to its start, `hashes` are their key hashes.
    pub(crate) fn push_recorded(&mut self, text: &str, spans: &[[u32; 3]], hashes: &[u32]) {
        let (buf, all) = self.fields.parts_mut();
        let Ok(base) = u32::try_from(buf.len()) else {
            return; // over 4 GiB of settings in one device: not lspci output
        };
        if u32::try_from(buf.len() + text.len()).is_err() {
            return;
        }
        buf.push_str(text);
        all.extend(
            spans
                .iter()
                .map(|&[s, k, e]| [s + base, k + base, e + base]),
        );
        self.hashes.extend_from_slice(hashes);
        let cap = self.cap;
        self.in_cap.extend(std::iter::repeat_n(cap, spans.len()));
        if !spans.is_empty() {
            self.note_group();
        }
    }

    /// Appends to the value of the most recent setting (a continuation such as
    /// `0dB preshoot`): in the order of record (header first), the setting just before
    /// this line's position.
    pub(crate) fn append_last(&mut self, sep: &str, add: &str) {
        let n = self.fields.len();
        let target = if n > self.line_start {
            Some(n - 1)
        } else {
            // No setting from this line yet: the line extends an earlier one. Rare (a
            // dropped `Report errors` label before a continuation), so search.
            self.touched_old = true;
            if self.cap {
                self.in_cap
                    .iter()
                    .rposition(|&c| c)
                    .or_else(|| self.in_cap.iter().rposition(|&c| !c))
            } else {
                self.in_cap.iter().rposition(|&c| !c)
            }
        };
        let Some(i) = target else { return };
        let (text, spans) = self.fields.parts_mut();
        let [s, k, e] = spans[i];
        let Ok(new_len) = u32::try_from(text.len() + (e - s) as usize + sep.len() + add.len())
        else {
            return;
        };
        if e as usize != text.len() {
            // The setting's value does not end the text: move the setting to the end.
            let moved = text.len() as u32;
            let setting = text[s as usize..e as usize].to_string();
            text.push_str(&setting);
            spans[i] = [moved, moved + (k - s), moved + (e - s)];
        }
        text.push_str(sep);
        text.push_str(add);
        if let Some(span) = spans.get_mut(i) {
            span[2] = u32::try_from(text.len()).unwrap_or(new_len);
        }
    }

    /// Ends the device: header settings first, repeated keys numbered; returns the settings.
    pub(crate) fn take(&mut self) -> Fields {
        if self.unordered {
            self.put_header_first();
        }
        self.number_repeats();
        let f = self.fields.exact_copy(&self.hashes);
        self.fields.clear();
        f
    }

    /// Stable partition of the settings: header group, then capability group.
    fn put_header_first(&mut self) {
        // The usual case (`lspci -k`): the late header settings are the last few, after
        // all capability settings. A rotation of that tail moves them into place.
        let n = self.in_cap.len();
        let first_cap = self.in_cap.iter().position(|&c| c).unwrap_or(n);
        let tail = self.in_cap.iter().rev().take_while(|&&c| !c).count();
        let late = self.in_cap[first_cap..].iter().filter(|&&c| !c).count();
        if late == tail {
            let (_, spans) = self.fields.parts_mut();
            spans[first_cap..].rotate_right(tail);
            self.hashes[first_cap..].rotate_right(tail);
            return;
        }
        let order = &mut self.order;
        order.clear();
        order.extend((0..self.in_cap.len()).filter(|&i| !self.in_cap[i]));
        order.extend((0..self.in_cap.len()).filter(|&i| self.in_cap[i]));
        let (_, spans) = self.fields.parts_mut();
        self.moved_spans.clear();
        self.moved_spans.extend(order.iter().map(|&i| spans[i]));
        std::mem::swap(spans, &mut self.moved_spans);
        self.moved_hashes.clear();
        self.moved_hashes
            .extend(order.iter().map(|&i| self.hashes[i]));
        std::mem::swap(&mut self.hashes, &mut self.moved_hashes);
        // `in_cap` is not read again for this device.
    }

    /// Makes keys unique: the second setting named `k` becomes `k#2`, the third `k#3`.
    fn number_repeats(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 || self.table.is_empty() {
            self.table = vec![Slot::default(); self.table.len().max(256)];
            self.generation = 1;
        }
        self.used = 0;
        for i in 0..self.fields.len() {
            let hash = self.hashes[i];
            let mask = self.table.len() - 1;
            let mut pos = hash as usize & mask;
            loop {
                let slot = self.table[pos];
                if slot.generation != self.generation {
                    self.table[pos] = Slot {
                        generation: self.generation,
                        field: u32::try_from(i).unwrap_or(u32::MAX),
                        hash,
                        count: 1,
                    };
                    self.used += 1;
                    break;
                }
                if slot.hash == hash
                    && self.fields.key_at(slot.field as usize) == self.fields.key_at(i)
                {
                    let n = slot.count + 1;
                    self.table[pos].count = n;
                    self.rename_repeat(i, n);
                    break;
                }
                pos = (pos + 1) & mask;
            }
            if self.used * 2 > self.table.len() {
                self.grow();
            }
        }
    }

    /// Rewrites setting `i` at the end of the text with `#n` after its key (none in most
    /// devices; the old bytes stay unused).
    fn rename_repeat(&mut self, i: usize, n: u32) {
        let (text, spans) = self.fields.parts_mut();
        let [s, k, e] = spans[i];
        let suffix = format!("#{n}");
        let start = text.len();
        let Ok(end) = u32::try_from(start + (e - s) as usize + suffix.len()) else {
            return; // over 4 GiB of settings in one device: not lspci output
        };
        let (key, value) = (
            text[s as usize..k as usize].to_string(),
            text[k as usize..e as usize].to_string(),
        );
        text.push_str(&key);
        text.push_str(&suffix);
        let key_end = text.len() as u32;
        text.push_str(&value);
        spans[i] = [start as u32, key_end, end];
        // The setting's hash now describes its new key, for `Fields::get`'s index (the
        // numbering loop has read it already).
        self.hashes[i] = hash_key(&text.as_bytes()[start..key_end as usize]);
    }

    fn grow(&mut self) {
        let size = self.table.len() * 2;
        let old = std::mem::replace(&mut self.table, vec![Slot::default(); size]);
        let mask = size - 1;
        for slot in old.into_iter().filter(|s| s.generation == self.generation) {
            let mut pos = slot.hash as usize & mask;
            while self.table[pos].generation == self.generation {
                pos = (pos + 1) & mask;
            }
            self.table[pos] = slot;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_are_numbered() {
        let mut s = Sink::default();
        s.reset();
        s.push(&["a"], "1");
        s.push(&["a"], "2");
        s.push(&["a"], "3");
        for i in 0..1000 {
            s.push(&["k", &i.to_string()], "x");
        }
        s.push(&["a"], "4");
        let f = s.take();
        assert_eq!(f.key_at(1), "a#2");
        assert_eq!(f.key_at(2), "a#3");
        assert_eq!(f.key_at(1003), "a#4");
        assert_eq!(f.get("k999"), Some("x"));
        assert_eq!(f.get("a#3"), Some("3"));
    }

    #[test]
    fn lookups_agree_with_a_scan_after_reordering_and_renaming() {
        // Enough settings for `Fields::get` to index them from the sink's key hashes.
        let mut s = Sink::default();
        for round in 0..2 {
            s.reset();
            s.cap = true;
            for i in 0..40 {
                s.push(&["K", &(i % 7).to_string()], &format!("c{round}-{i}"));
            }
            s.cap = false;
            s.push(&["K3"], "late header");
            s.push(&["DevCtl.", "Correctable"], "+");
            let mut f = s.take();
            let scan = |f: &Fields, key: &str| {
                f.iter().find(|x| x.key == key).map(|x| x.value.to_string())
            };
            for key in ["K0", "K3", "K3#2", "K6#6", "K1#7", "DevCtl.CorrErr", "nope"] {
                assert_eq!(f.get(key).map(str::to_string), scan(&f, key), "{key}");
            }
            // Settings pushed afterwards are found too (the handed-over hashes are dropped).
            f.push("K0", "again");
            f.push("new", "v");
            assert_eq!(f.get("new"), Some("v"));
            assert_eq!(f.get("K0").map(str::to_string), scan(&f, "K0"));
        }
    }

    #[test]
    fn header_settings_come_first_and_are_numbered_first() {
        let mut s = Sink::default();
        s.reset();
        s.push(&["Control.I/O"], "+");
        s.cap = true;
        s.push(&["X"], "cap");
        s.cap = false;
        s.push(&["X"], "header");
        let f = s.take();
        let got: Vec<(String, String)> = f
            .iter()
            .map(|f| (f.key.to_string(), f.value.to_string()))
            .collect();
        let want = [("Control.I/O", "+"), ("X", "header"), ("X#2", "cap")];
        assert_eq!(
            got,
            want.map(|(k, v)| (k.to_string(), v.to_string())).to_vec()
        );
    }

    #[test]
    fn append_to_an_earlier_line_moves_the_setting() {
        let mut s = Sink::default();
        s.reset();
        s.cap = true;
        s.push(&["A"], "1");
        s.cap = false;
        s.push(&["H"], "h");
        s.cap = true;
        s.line_start = s.len();
        s.append_last(", ", "more");
        assert!(s.touched_old);
        let f = s.take();
        assert_eq!(f.get("A"), Some("1, more"));
        assert_eq!(f.get("H"), Some("h"));
    }
}
