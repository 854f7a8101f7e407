//! The device model shared by the text parser and the binary decoder.
//!
//! Both front ends produce a [`Device`]: identity (address, ids, names), the register lines
//! exactly as lspci renders them (header lines and one block per capability), and the flat
//! settings derived from those lines by [`crate::fields`]. Because the settings of both
//! front ends come from the same line tokenizer, `parse` and `decode` of the same device
//! agree on every key the decoder renders.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::address::PciAddress;

/// One PCI function.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Host the device was seen on (from a `pdsh`-style `host: ` prefix), if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub host: Option<String>,
    /// `domain:bus:device.function`.
    pub address: PciAddress,
    /// Numeric identity; fields are `None` where the input did not show them (lspci without `-n`).
    pub ids: DeviceIds,
    /// Names from lspci's own output or from the pci.ids database.
    pub names: DeviceNames,
    /// Header type (0 endpoint, 1 PCI-to-PCI bridge, 2 CardBus), when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub header_type: Option<u8>,
    /// Bridge bus numbers, for header type 1.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bus: Option<BusNumbers>,
    /// Header-level register lines (`Control:`, `Status:`, `Region 0:`, `Bus:`, ...).
    pub header: Vec<Line>,
    /// Capabilities in the order they appear (standard list, then extended list). Shared
    /// (`Arc`), because devices of a fleet repeat them: a device derived from another
    /// node's that differs in a serial number takes the other's capabilities without
    /// copying their titles, and a parser hands out one capability per distinct title.
    pub capabilities: Vec<Arc<Capability>>,
    /// Flat settings, `(key, value)`, in rendering order; keys are unique within a device.
    /// Read them with [`Device::field`] and [`Device::fields_iter`].
    pub fields: Fields,
    /// Kernel driver in use (`lspci -k`), if shown.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub driver: Option<String>,
    /// Kernel modules able to drive the device (`lspci -k`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub kernel_modules: Vec<String>,
    /// Raw config space bytes, when the device came from a binary dump.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        with = "crate::device::hex_bytes"
    )]
    pub config: Option<Vec<u8>>,
    /// 1-based line of the device's header line in its input, when it came from text.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub line: Option<usize>,
}

/// Numeric identity of a device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceIds {
    /// Vendor id.
    pub vendor: Option<u16>,
    /// Device id.
    pub device: Option<u16>,
    /// Subsystem vendor id.
    pub subsystem_vendor: Option<u16>,
    /// Subsystem device id.
    pub subsystem_device: Option<u16>,
    /// Base class and subclass, e.g. `0x0604` for a PCI bridge.
    pub class: Option<u16>,
    /// Programming interface.
    pub prog_if: Option<u8>,
    /// Revision id.
    pub revision: Option<u8>,
}

/// Human names of a device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceNames {
    /// Vendor name.
    pub vendor: Option<String>,
    /// Device name.
    pub device: Option<String>,
    /// Class name (`PCI bridge`, `3D controller`).
    pub class: Option<String>,
    /// Subsystem, as lspci prints it after `Subsystem:`.
    pub subsystem: Option<String>,
}

/// A bridge's bus numbers (header type 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusNumbers {
    /// Bus the bridge sits on.
    pub primary: u8,
    /// First bus behind the bridge.
    pub secondary: u8,
    /// Last bus behind the bridge.
    pub subordinate: u8,
}

/// One rendered register line.
///
/// `depth` is 0 for a line that starts a register (`DevCtl:\tCorrErr- ...`) and 1 or more for
/// lines lspci indents further to continue it. `text` has no leading or trailing whitespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// Indentation relative to the block's register lines.
    pub depth: u8,
    /// The line's text, trimmed.
    pub text: String,
}

impl Line {
    /// A register line (depth 0).
    pub fn reg(text: impl Into<String>) -> Self {
        Self {
            depth: 0,
            text: text.into(),
        }
    }

    /// A continuation line (depth 1).
    pub fn cont(text: impl Into<String>) -> Self {
        Self {
            depth: 1,
            text: text.into(),
        }
    }
}

/// Which capability list a capability belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CapabilitySpace {
    /// The standard list in the first 256 bytes.
    Standard,
    /// The extended list from offset 0x100.
    Extended,
}

/// One capability and its rendered lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capability {
    /// Standard or extended list.
    pub space: CapabilitySpace,
    /// Offset in config space (`Capabilities: [90]` → `0x90`).
    pub offset: u16,
    /// Capability id, when known (always known from binary; from text, inferred from the title).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<u16>,
    /// Capability version (`[100 v1]` → 1, `Express (v2)` → 2).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<u8>,
    /// Short, stable name used to prefix keys (`Express`, `MSI`, `AER`, ...).
    pub tag: String,
    /// The title after `Capabilities: [off]`, as lspci prints it.
    pub title: String,
    /// The capability's register lines.
    pub lines: Vec<Line>,
}

/// One flat setting, owned (what [`crate::fields::device_fields`] returns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// Key named after lspci's register and field names (`LnkSta.Speed`).
    pub key: String,
    /// Value exactly as lspci prints it (`32GT/s`, `+`, `4096 bytes`).
    pub value: String,
}

/// A device's flat settings, stored as one text buffer with spans: keys and values of a
/// device share one allocation instead of two `String`s per setting (about a hundred
/// settings per device). Serializes as `[{"key": .., "value": ..}, ...]`.
#[derive(Default)]
pub struct Fields {
    /// Keys and values back to back: `key0 value0 key1 value1 ...` without separators.
    text: String,
    /// Per setting: start of its key, end of its key (start of its value), end of its value.
    spans: Buf<[u32; 3]>,
    /// Hash index for [`Fields::get`], built on the first lookup of a device with more
    /// than a few settings: rule engines look up dozens of keys per device, and a linear
    /// scan over a hundred keys each time showed in `fleet analyze` profiles.
    index: std::sync::OnceLock<Arc<[u32]>>,
    /// Per setting, the hash of its key as [`Fields::get`]'s index hashes it, when the
    /// tokenizer supplied them (it hashes every key anyway, to number repeats); empty
    /// otherwise. Building the index from these instead of hashing every key again halves
    /// its cost, and the fleet's rules index every device.
    hashes: Buf<u32>,
}

/// A buffer of [`Fields`] that is either being built (owned) or, once handed out, shared
/// between copies: a copy of a device's settings, or one with a value replaced by one of
/// the same length (a serial number, an address: most devices a fleet derives from
/// another node's), keeps the same key positions, hashes and index, so it takes them
/// without copying.
#[derive(Debug)]
struct Buf<T: 'static> {
    owned: Vec<T>,
    /// When set, the contents (and `owned` is empty).
    shared: Option<Arc<[T]>>,
}

impl<T> Default for Buf<T> {
    fn default() -> Self {
        Self {
            owned: Vec::new(),
            shared: None,
        }
    }
}

impl<T: Clone> Clone for Buf<T> {
    fn clone(&self) -> Self {
        Self {
            owned: self.owned.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<T> std::ops::Deref for Buf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.shared.as_deref().unwrap_or(&self.owned)
    }
}

impl<T: Clone> Buf<T> {
    /// Shares `items`.
    fn shared(items: &[T]) -> Self {
        Self {
            owned: Vec::new(),
            shared: Some(items.into()),
        }
    }

    /// Owns `items`.
    fn owned(items: Vec<T>) -> Self {
        Self {
            owned: items,
            shared: None,
        }
    }

    /// The contents to change, copied out of the shared buffer first if there is one.
    fn to_mut(&mut self) -> &mut Vec<T> {
        if let Some(items) = self.shared.take() {
            self.owned = items.to_vec();
        }
        &mut self.owned
    }

    /// Empties the buffer, keeping an owned one's capacity (the tokenizer's scratch).
    fn clear(&mut self) {
        self.shared = None;
        self.owned.clear();
    }
}

impl Clone for Fields {
    fn clone(&self) -> Self {
        // Settings and keys are the same, so the index (shared) is right for the copy.
        let index = std::sync::OnceLock::new();
        if let Some(built) = self.index.get() {
            let _ = index.set(Arc::clone(built));
        }
        Self {
            text: self.text.clone(),
            spans: self.spans.clone(),
            index,
            hashes: self.hashes.clone(),
        }
    }
}

/// A borrowed key or value of a [`Fields`] entry: a `&str` that also offers `as_str()`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldStr<'a>(&'a str);

impl<'a> FieldStr<'a> {
    /// The text.
    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

impl std::ops::Deref for FieldStr<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        self.0
    }
}

impl std::fmt::Display for FieldStr<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::fmt::Debug for FieldStr<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.0, f)
    }
}

impl PartialEq<str> for FieldStr<'_> {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for FieldStr<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// One setting borrowed from [`Fields`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRef<'a> {
    /// Key (`LnkSta.Speed`).
    pub key: FieldStr<'a>,
    /// Value (`32GT/s`).
    pub value: FieldStr<'a>,
}

impl Fields {
    /// No settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `text` bytes of keys and values and `n` settings.
    pub fn with_capacity(text: usize, n: usize) -> Self {
        Self {
            text: String::with_capacity(text),
            spans: Buf::owned(Vec::with_capacity(n)),
            index: std::sync::OnceLock::new(),
            hashes: Buf::default(),
        }
    }

    /// Number of settings.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Appends a setting as given (no key deduplication: the tokenizer does that).
    pub fn push(&mut self, key: &str, value: &str) {
        let start = self.text.len();
        self.text.push_str(key);
        let key_end = self.text.len();
        self.text.push_str(value);
        self.push_span(start, key_end);
    }

    /// Records the setting whose key is `text[start..key_end]` and whose value runs from
    /// `key_end` to the end of the text.
    pub(crate) fn push_span(&mut self, start: usize, key_end: usize) {
        self.forget_index();
        let end = self.text.len();
        match (
            u32::try_from(start),
            u32::try_from(key_end),
            u32::try_from(end),
        ) {
            (Ok(s), Ok(k), Ok(e)) => self.spans.to_mut().push([s, k, e]),
            // Over 4 GiB of settings in one device: not lspci output; keep what fits.
            _ => self.text.truncate(start),
        }
    }

    /// The text buffer, for the tokenizer to write keys and values into directly.
    pub(crate) fn text_mut(&mut self) -> &mut String {
        self.forget_index();
        &mut self.text
    }

    /// Drops the index and the key hashes: the settings are changing.
    #[inline]
    fn forget_index(&mut self) {
        if self.index.get().is_some() {
            self.index.take();
        }
        self.hashes.clear();
    }

    /// Text and spans together, for the tokenizer's sink to append or reorder settings.
    pub(crate) fn parts_mut(&mut self) -> (&mut String, &mut Vec<[u32; 3]>) {
        self.forget_index();
        (&mut self.text, self.spans.to_mut())
    }

    /// The span table (key start, key end, value end per setting).
    pub(crate) fn spans(&self) -> &[[u32; 3]] {
        &self.spans
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Key of setting `i`.
    pub(crate) fn key_at(&self, i: usize) -> &str {
        let [s, k, _] = self.spans[i];
        &self.text[s as usize..k as usize]
    }

    /// Empties the settings, keeping the buffers' capacity (the tokenizer's scratch copy).
    pub(crate) fn clear(&mut self) {
        self.forget_index();
        self.text.clear();
        self.spans.clear();
    }

    /// A copy whose buffers are exactly as large as their contents: the tokenizer builds a
    /// device's settings in one scratch buffer that keeps its capacity from device to
    /// device, and hands out this copy (one allocation per buffer, no regrowth; building in
    /// a fresh buffer per device sized like the previous one reallocated several times per
    /// device, since neighbouring devices differ in size by 10x).
    /// `hashes` are the keys' [`index_hash`]es, one per setting (or none).
    pub(crate) fn exact_copy(&self, hashes: &[u32]) -> Fields {
        let hashes = if hashes.len() == self.spans.len() {
            Buf::shared(hashes)
        } else {
            Buf::default()
        };
        Self {
            text: self.text.as_str().into(),
            spans: Buf::shared(&self.spans),
            index: std::sync::OnceLock::new(),
            hashes,
        }
    }

    /// The settings in order.
    pub fn iter(&self) -> FieldsIter<'_> {
        FieldsIter {
            text: &self.text,
            spans: self.spans.iter(),
        }
    }

    /// Value of the first setting named `key`.
    ///
    /// A device with more than [`Fields::INDEX_FROM`] settings builds a hash index on the
    /// first call (once; later calls probe it), so many lookups per device stay cheap.
    pub fn get(&self, key: &str) -> Option<&str> {
        let [_, k, e] = self.spans[self.position(key)?];
        Some(&self.text[k as usize..e as usize])
    }

    /// The setting at position `i` (in [`Fields::iter`] order).
    pub fn get_at(&self, i: usize) -> Option<FieldRef<'_>> {
        let &[s, k, e] = self.spans.get(i)?;
        Some(FieldRef {
            key: FieldStr(&self.text[s as usize..k as usize]),
            value: FieldStr(&self.text[k as usize..e as usize]),
        })
    }

    /// Position (in [`Fields::iter`] order) of the first setting named `key`; looked up
    /// like [`Fields::get`].
    pub fn position(&self, key: &str) -> Option<usize> {
        let text = self.text.as_str();
        if self.spans.len() <= Self::INDEX_FROM {
            return self.spans.iter().position(|&[s, k, _]| {
                let (s, k) = (s as usize, k as usize);
                k - s == key.len() && &text[s..k] == key
            });
        }
        let index = self.index.get_or_init(|| self.build_index());
        let mask = index.len() - 1;
        let mut pos = index_hash(key) & mask;
        loop {
            let slot = index[pos];
            if slot == 0 {
                return None;
            }
            let i = slot as usize - 1;
            let [s, k, _] = self.spans[i];
            if &text[s as usize..k as usize] == key {
                return Some(i);
            }
            pos = (pos + 1) & mask;
        }
    }

    /// A copy with the values of some settings replaced: `changes` holds (position, new
    /// value) pairs, positions as [`Fields::position`] gives them. Keys and their order stay
    /// the same, so the copy takes over the lookup index if this one has built it: a fleet
    /// derives a node's device from another node's that differs in a serial number, and
    /// the rules then look up dozens of its keys. Positions past the end are ignored.
    pub fn with_values(&self, changes: &[(usize, &str)]) -> Option<Fields> {
        let n = self.spans.len();
        // In position order, the last change of a position winning.
        let mut order: Vec<(usize, &str)> = Vec::with_capacity(changes.len());
        for &(p, v) in changes.iter().rev().filter(|(p, _)| *p < n) {
            if !order.iter().any(|(q, _)| *q == p) {
                order.push((p, v));
            }
        }
        order.sort_unstable_by_key(|&(p, _)| p);
        let index = std::sync::OnceLock::new();
        if let Some(built) = self.index.get() {
            // The index holds positions and compares keys on lookup: both unchanged.
            let _ = index.set(Arc::clone(built));
        }
        let grow: usize = order.iter().map(|(_, v)| v.len()).sum();
        // Spans are u32, and offsets are compared as i32 below: a result over 2 GiB is
        // left to the caller (it is not lspci's).
        i32::try_from(self.text.len().checked_add(grow)?).ok()?;
        // The changed values in text order (settings need not lie in text order: header
        // settings are moved first, renamed repeats are rewritten at the end).
        let mut cuts: Vec<(u32, u32, &str)> = order
            .iter()
            .map(|&(p, v)| (self.spans[p][1], self.spans[p][2], v))
            .collect();
        cuts.sort_unstable_by_key(|c| c.0);
        let mut text = String::with_capacity(self.text.len() + grow);
        let mut copied = 0;
        for &(k, e, v) in &cuts {
            text.push_str(&self.text[copied..k as usize]);
            text.push_str(v);
            copied = e as usize;
        }
        text.push_str(&self.text[copied..]);
        // An offset of the old text moves by the length change of every value that ends at
        // or before it (a changed value's own end included, which makes its new end right).
        // One pass per change over all offsets, compared with the old ones: no branches,
        // so it runs at a few offsets per cycle. A value of the same length (a serial
        // number, an address: most changes a fleet derives) moves nothing.
        let delta = |(k, e, v): (u32, u32, &str)| (v.len() as u32).wrapping_sub(e - k);
        // Values of the same length move nothing: the copy shares the spans.
        if cuts.iter().all(|&c| delta(c) == 0) {
            return Some(Fields {
                text,
                spans: self.spans.clone(),
                index,
                hashes: self.hashes.clone(),
            });
        }
        let mut spans = self.spans.to_vec();
        for &cut in &cuts {
            let (d, e) = (delta(cut) as i32, cut.1 as i32);
            if d == 0 {
                continue;
            }
            // Flat slices of offsets, compared as i32 (every offset is below 2 GiB, checked
            // above): the baseline x86-64 vector compare is signed, so this loop compiles to
            // vector instructions where an unsigned compare did not.
            let new = spans.as_flattened_mut();
            for (n, &o) in new.iter_mut().zip(self.spans.as_flattened()) {
                *n = (*n as i32).wrapping_add(if o as i32 >= e { d } else { 0 }) as u32;
            }
        }
        // A changed setting itself: its key does not move with its own value (which matters
        // when the old value was empty and ended where the key does).
        for &(p, v) in &order {
            let [s, k, _] = self.spans[p];
            let at = |x: u32| {
                cuts.iter()
                    .filter(|c| c.0 != k && c.1 <= x)
                    .fold(x, |x, &c| x.wrapping_add(delta(c)))
            };
            let new_k = at(k);
            spans[p] = [at(s), new_k, new_k + v.len() as u32];
        }
        Some(Fields {
            text,
            spans: Buf::owned(spans),
            index,
            hashes: self.hashes.clone(),
        })
    }

    /// Devices with at most this many settings are searched linearly by [`Fields::get`].
    const INDEX_FROM: usize = 16;

    /// Open-addressing table (linear probing, at most half full) of `1 + setting index` for
    /// the first setting of every key; 0 is an empty slot.
    fn build_index(&self) -> Arc<[u32]> {
        let size = (self.spans.len() * 2).next_power_of_two();
        let mask = size - 1;
        let mut table = vec![0u32; size];
        let text = self.text.as_str();
        let known = self.hashes.len() == self.spans.len();
        let key_at = |i: usize| {
            let [s, k, _] = self.spans[i];
            &text[s as usize..k as usize]
        };
        for i in 0..self.spans.len() {
            let Ok(entry) = u32::try_from(i + 1) else {
                break; // over 4 billion settings: not lspci output; the rest stay unindexed
            };
            // With the tokenizer's hashes, keys are only read on a hash match.
            let hash = if known {
                self.hashes[i] as usize
            } else {
                index_hash(key_at(i))
            };
            let mut pos = hash & mask;
            loop {
                let slot = table[pos];
                if slot == 0 {
                    table[pos] = entry;
                    break;
                }
                let other = slot as usize - 1;
                if (!known || self.hashes[other] as usize == hash) && key_at(other) == key_at(i) {
                    break; // an earlier setting has this key: `get` returns that one
                }
                pos = (pos + 1) & mask;
            }
        }
        table.into()
    }

    /// Appends one line per setting to `out`: `prefix`, the key, a tab, the value, a
    /// newline (what `trainyard pci parse --format fields` prints after `ADDRESS\t`).
    pub fn write_lines(&self, prefix: &[u8], out: &mut Vec<u8>) {
        let text = self.text.as_bytes();
        out.reserve(self.spans.len() * (prefix.len() + 2) + text.len());
        for &[s, k, e] in self.spans.iter() {
            out.extend_from_slice(prefix);
            out.extend_from_slice(&text[s as usize..k as usize]);
            out.push(b'\t');
            out.extend_from_slice(&text[k as usize..e as usize]);
            out.push(b'\n');
        }
    }

    /// Owned copies of the settings.
    pub fn to_vec(&self) -> Vec<Field> {
        self.iter()
            .map(|f| Field {
                key: f.key.as_str().to_string(),
                value: f.value.as_str().to_string(),
            })
            .collect()
    }
}

/// Slot hash of a key in the [`Fields::get`] index (the tokenizer's sink hashes keys the
/// same way, `fields::sink::hash_key`, and hands those hashes over).
#[inline]
fn index_hash(key: &str) -> usize {
    // The high half: the multiplicative hash mixes upward, so its low bits are weak.
    (crate::fxhash::hash_bytes(0, key.as_bytes()) >> 32) as usize
}

/// Iterator over [`Fields`].
#[derive(Clone)]
pub struct FieldsIter<'a> {
    text: &'a str,
    spans: std::slice::Iter<'a, [u32; 3]>,
}

impl<'a> Iterator for FieldsIter<'a> {
    type Item = FieldRef<'a>;

    fn next(&mut self) -> Option<FieldRef<'a>> {
        let &[s, k, e] = self.spans.next()?;
        Some(FieldRef {
            key: FieldStr(&self.text[s as usize..k as usize]),
            value: FieldStr(&self.text[k as usize..e as usize]),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl ExactSizeIterator for FieldsIter<'_> {}

impl<'a> IntoIterator for &'a Fields {
    type Item = FieldRef<'a>;
    type IntoIter = FieldsIter<'a>;
    fn into_iter(self) -> FieldsIter<'a> {
        self.iter()
    }
}

impl PartialEq for Fields {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Fields {}

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Fields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut out = Self::new();
        for (k, v) in iter {
            out.push(k.as_ref(), v.as_ref());
        }
        out
    }
}

impl From<Vec<Field>> for Fields {
    fn from(v: Vec<Field>) -> Self {
        v.iter().map(|f| (&f.key, &f.value)).collect()
    }
}

impl Serialize for Fields {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Entry<'a> {
            key: &'a str,
            value: &'a str,
        }
        s.collect_seq(self.iter().map(|f| Entry {
            key: f.key.as_str(),
            value: f.value.as_str(),
        }))
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<Field>::deserialize(d)?.into())
    }
}

impl Device {
    /// Value of a setting, if present.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields.get(key)
    }

    /// The settings as `(key, value)` pairs, in rendering order. Prefer this to reaching into
    /// [`Device::fields`]: the storage of settings may change, this iterator will not.
    pub fn fields_iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.fields
            .iter()
            .map(|f| (f.key.as_str(), f.value.as_str()))
    }

    /// Recomputes [`Device::fields`] from the header and capability lines.
    pub fn derive_fields(&mut self) {
        self.fields = crate::fields::derive(self);
    }

    /// Capability with the given tag, if the device has one.
    pub fn capability(&self, tag: &str) -> Option<&Capability> {
        self.capabilities
            .iter()
            .find(|c| c.tag == tag)
            .map(|c| &**c)
    }
}

/// Serde adapter that writes config bytes as one lowercase hex string.
pub(crate) mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(bytes) => {
                let mut out = String::with_capacity(bytes.len() * 2);
                for b in bytes {
                    out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
                    out.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
                }
                s.serialize_str(&out)
            }
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        let Some(s) = s else { return Ok(None) };
        if s.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd number of hex digits"));
        }
        (0..s.len())
            .step_by(2)
            .map(|i| {
                s.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| serde::de::Error::custom("bad hex digit"))
            })
            .collect::<Result<Vec<u8>, _>>()
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Fields {
        (0..n).map(|i| (format!("K{i}"), format!("v{i}"))).collect()
    }

    #[test]
    fn position_agrees_with_get_with_and_without_the_index() {
        for n in [3, Fields::INDEX_FROM + 5] {
            let f = sample(n);
            for i in 0..n {
                assert_eq!(f.position(&format!("K{i}")), Some(i));
                assert_eq!(f.get(&format!("K{i}")), Some(format!("v{i}").as_str()));
            }
            assert_eq!(f.position("K"), None);
        }
    }

    #[test]
    fn with_values_replaces_only_the_named_settings_and_keeps_lookups_right() {
        let f = sample(40);
        assert_eq!(f.get("K7"), Some("v7")); // builds the index the copy takes over
        let g = f
            .with_values(&[(7, "a much longer value than before"), (39, ""), (99, "x")])
            .expect("small");
        assert_eq!(g.len(), 40);
        for (i, (a, b)) in f.iter().zip(g.iter()).enumerate() {
            assert_eq!(a.key, b.key);
            match i {
                7 => assert_eq!(b.value.as_str(), "a much longer value than before"),
                39 => assert_eq!(b.value.as_str(), ""),
                _ => assert_eq!(a.value, b.value),
            }
        }
        assert_eq!(g.get("K7"), Some("a much longer value than before"));
        assert_eq!(g.get("K39"), Some(""));
        assert_eq!(g.get_at(7).map(|f| f.key.as_str()), Some("K7"));
        assert!(g.get_at(40).is_none());
        assert_eq!(g.get("K8"), Some("v8"));
        assert_eq!(g, {
            let mut h: Vec<(String, String)> = f
                .iter()
                .map(|x| (x.key.to_string(), x.value.to_string()))
                .collect();
            h[7].1 = "a much longer value than before".into();
            h[39].1 = String::new();
            h.into_iter().collect::<Fields>()
        });
    }

    #[test]
    fn with_values_fills_empty_values() {
        let f: Fields = [("A", ""), ("B", ""), ("C", "c")].into_iter().collect();
        let g = f.with_values(&[(0, "aa"), (1, "b")]).expect("small");
        let want: Fields = [("A", "aa"), ("B", "b"), ("C", "c")].into_iter().collect();
        assert_eq!(g, want);
        let g = f.with_values(&[(1, "bbb"), (2, "")]).expect("small");
        let want: Fields = [("A", ""), ("B", "bbb"), ("C", "")].into_iter().collect();
        assert_eq!(g, want);
    }

    #[test]
    fn same_length_values_share_the_spans_and_a_later_change_copies_them() {
        // Handed out the way the parser hands out settings (shared buffers), indexed.
        let f = sample(40).exact_copy(&[]);
        assert_eq!(f.get("K7"), Some("v7"));
        let mut g = f.with_values(&[(7, "w7"), (30, "x30")]).expect("small");
        assert_eq!(g.get("K7"), Some("w7"));
        assert_eq!(g.get("K30"), Some("x30"));
        assert_eq!(g.get("K8"), Some("v8"));
        assert_eq!(g.len(), 40);
        // Appending to the copy leaves the original as it was.
        g.push("K40", "v40");
        assert_eq!(g.get("K40"), Some("v40"));
        assert_eq!(g.len(), 41);
        assert_eq!(f.len(), 40);
        assert_eq!(f.get("K40"), None);
        assert_eq!(f.get("K7"), Some("v7"));
        let mut want = sample(41);
        want = want.with_values(&[(7, "w7"), (30, "x30")]).expect("small");
        assert_eq!(g, want);
        // A clone shares too and reads the same.
        assert_eq!(g.clone(), g);
    }

    #[test]
    fn with_values_handles_settings_out_of_text_order() {
        // As after a renamed repeat: the spans no longer run back to back.
        let mut f = sample(20);
        f.spans.to_mut().swap(3, 11);
        f.hashes.clear();
        let g = f
            .with_values(&[(3, "three"), (11, "eleven")])
            .expect("small");
        let want: Fields = f
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let v = match i {
                    3 => "three".to_string(),
                    11 => "eleven".to_string(),
                    _ => x.value.to_string(),
                };
                (x.key.to_string(), v)
            })
            .collect();
        assert_eq!(g, want);
        // Position 3 holds K11's setting since the swap.
        assert_eq!(g.get("K11"), Some("three"));
        assert_eq!(g.get("K3"), Some("eleven"));
    }
}
