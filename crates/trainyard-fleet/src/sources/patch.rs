//! Deriving a device from an earlier node's device that printed the same block but for a
//! line or two, instead of parsing the whole block again.
//!
//! Most device blocks of a fleet that are not repeated byte for byte differ from another
//! node's block in one or two lines: an IRQ number, a `Device Serial Number` title, a VPD
//! serial number, an AER status register, the one wrong setting the fleet doctor is looking
//! for. On the synthetic 10,000-node fleet of `bench/fleet.sh` such blocks are a quarter of
//! the blocks and half of the lines. Parsing one costs a few thousand instructions per line;
//! deriving it from the earlier block's device costs a comparison per line plus a parse of
//! the few lines that changed.
//!
//! # How a block is derived
//! Each thread keeps a *template* per block shape (its device header line): the first
//! block of that shape it parsed in full. A block of the same shape is compared with it,
//! in long runs of bytes, and each mismatch is traced to the template's line. Each line that differs is widened to its *group*, the
//! lines the tokenizer reads together: a header register with its continuation lines, a
//! capability register with its continuation lines (read after the capability's title),
//! or, for a capability title, the whole capability (its title names the keys of all its
//! lines). Both versions of the group, the template's (read once per template and kept) and
//! the new one, are read on their own with `TextParser::read_group` through the thread's
//! fields-only parser and its line memo.
//!
//! The two must have the same keys in the same order. Each changed value is then written
//! into a copy of the template's device at its key's position (and a changed title
//! replaces its capability). That is only sound when the key names one setting of the
//! whole device: a key that repeats is numbered (`#2`) by position in the whole device,
//! which a group read alone cannot know, so a changed key that the template holds more
//! than once, or that is numbered, sends the block to the full parser. So does anything
//! else unusual: a differing line at column 0 (a hex row, a wrapped line), indentation
//! other than tabs, a group that carries identity (`Bus:`, `Subsystem:`, `Kernel driver in
//! use:`), more than [`MAX_CHANGED_GROUPS`] changed groups. Nothing here can report a
//! problem: a block that might have one is parsed the ordinary way.
//!
//! A block whose changed lines produce no setting at all (an IRQ) yields the template's
//! own device, shared: the fold then recognises it as the slot's reference by its address.
//!
//! # Memory
//! Templates are bounded per thread by [`TEMPLATE_BYTES`] of block text; when full they
//! start over. A fleet has a few hundred shapes (one per device position and line count).

use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::Arc;

use trainyard_pci::device::Capability;
use trainyard_pci::text::{GroupSettings, TextParser};
use trainyard_pci::Device;

use crate::fxhash::{FxBuild, FxHasher};
use crate::node::Derived;

/// Most bytes of template text one thread keeps.
const TEMPLATE_BYTES: usize = 4 << 20;

/// A block that differs from its template in more groups than this is parsed in full:
/// patching pays for a few lines, not for a rewrite.
const MAX_CHANGED_GROUPS: usize = 4;

/// The first fully parsed block of one shape.
struct Template {
    text: Box<str>,
    /// `(start, end)` of each line of `text` (without its newline).
    lines: Vec<(usize, usize)>,
    device: Arc<Device>,
    /// Settings of the groups read so far, by first line: other nodes change the same
    /// lines (an IRQ, a serial number), so the template's side is read once.
    groups: Vec<(usize, GroupSettings)>,
    /// The group of each line changed so far ([`group_of`], which walks the lines above):
    /// for the same reason, looked up once per line.
    group_of_line: Vec<(usize, Option<Group>)>,
}

/// One thread's templates.
#[derive(Default)]
pub(crate) struct Templates {
    by_shape: HashMap<u64, Template, FxBuild>,
    bytes: usize,
    /// Scratch: the lines that differ from the template.
    changed: Vec<ChangedLine>,
    /// Scratch: the lines of a group.
    window: Vec<usize>,
    /// Scratch: a changed key with `#2` appended, to ask whether the key repeats.
    repeat_key: String,
    /// Blocks derived so far (for tests and benchmark notes).
    pub(crate) derived: u64,
}

/// A line of a block that differs from its template's: (line index, start, end in the
/// block's text).
type ChangedLine = (usize, usize, usize);

/// Hash of a block's shape: its first line, the device header (the number of lines is
/// checked while comparing).
pub(crate) fn shape(text: &str) -> u64 {
    let first = memchr::memchr(b'\n', text.as_bytes()).map_or(text, |e| &text[..e]);
    let mut h = FxHasher::default();
    h.write(first.as_bytes());
    h.finish()
}

/// `(start, end)` of every line of `text` (without its newline) into `out`.
fn split_lines(text: &str, out: &mut Vec<(usize, usize)>) {
    out.clear();
    let mut from = 0;
    for end in memchr::memchr_iter(b'\n', text.as_bytes()) {
        out.push((from, end));
        from = end + 1;
    }
    if from < text.len() {
        out.push((from, text.len()));
    }
}

/// Indentation of an lspci line in tabs, or `None` when it is not the plain kind this
/// module handles: tabs, optionally one space (`\t\t\t AtomicOpsCap`), then text.
fn tabs(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    let n = b.iter().take_while(|&&c| c == b'\t').count();
    match b.get(n) {
        Some(b' ') if !matches!(b.get(n + 1), Some(b' ' | b'\t') | None) => Some(n),
        Some(b' ' | b'\t') | None => None,
        Some(_) => Some(n),
    }
}

/// Whether an indented line (one tab) opens a capability.
fn is_cap_title(line: &str) -> bool {
    line.trim_start_matches('\t').starts_with("Capabilities:")
}

/// The lines a changed line is read with (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Group {
    /// The capability title line read before the group, for a capability register.
    title: Option<usize>,
    /// First and one-past-last line of the group.
    start: usize,
    end: usize,
    /// Which capability of the device (0-based) the group's title opens, for a title group.
    cap_index: Option<usize>,
}

impl Templates {
    /// The template's own device when `text` (of shape `shape`, see [`shape`]) is the
    /// template's text byte for byte and starts on the template's line. That is most
    /// blocks of a fleet, and this finds them with one comparison, without hashing the
    /// whole block for the exact memo.
    pub(crate) fn exact(&self, shape: u64, text: &str, line: usize) -> Option<&Arc<Device>> {
        let t = self.by_shape.get(&shape)?;
        (t.device.line == Some(line) && *t.text == *text).then_some(&t.device)
    }

    /// The device of `text` (one block of shape `shape`, starting at line `line`, not kept
    /// in the exact memo) derived from its shape's template, or `None` when there is no
    /// template or the block is not a plain variation of it.
    pub(crate) fn derive(
        &mut self,
        parser: &mut TextParser,
        shape: u64,
        text: &str,
        line: usize,
    ) -> Option<(Arc<Device>, Option<Derived>)> {
        let t = self.by_shape.get_mut(&shape)?;
        if t.text.as_ref() == text {
            return Some(same_on_line(&t.device, line, Vec::new()));
        }
        // The lines that differ: (index, new text), found by comparing the texts in long
        // runs and looking up the template's line of each mismatch.
        let changed = &mut self.changed;
        changed.clear();
        let (old, new) = (t.text.as_bytes(), text.as_bytes());
        let (mut po, mut pn) = (0, 0);
        loop {
            let d = first_difference(&old[po..], &new[pn..]);
            if d.is_none() && old.len() - po == new.len() - pn {
                break;
            }
            // Where they differ, or where the shorter one ends.
            let at = po + d.unwrap_or((old.len() - po).min(new.len() - pn));
            // The template's line holding the mismatch (its newline included).
            let i = t.lines.partition_point(|&(s, _)| s <= at).checked_sub(1)?;
            let (s, e) = t.lines[i];
            if i == 0 || at > e {
                return None;
            }
            let ns = pn + (s - po);
            let ne = memchr::memchr(b'\n', &new[ns..]).map_or(new.len(), |k| ns + k);
            changed.push((i, ns, ne));
            if changed.len() > 4 * MAX_CHANGED_GROUPS {
                return None;
            }
            // Past both lines; a text that ends there must end in both.
            po = (e + 1).min(old.len());
            pn = (ne + 1).min(new.len());
            if (po == old.len()) != (pn == new.len()) {
                return None;
            }
        }
        let mut groups: Vec<Group> = Vec::new();
        for &(i, ns, ne) in changed.iter() {
            let (a, b) = (&t.text[t.lines[i].0..t.lines[i].1], &text[ns..ne]);
            let g = match t.group_of_line.iter().find(|(l, _)| *l == i) {
                Some(&(_, g)) => g,
                None => {
                    let g = group_of(&t.text, &t.lines, i);
                    t.group_of_line.push((i, g));
                    g
                }
            }?;
            // The new line must be read the same way: same indentation, same kind.
            if tabs(b)? != tabs(a)? || (g.start == i && is_cap_title(a) != is_cap_title(b)) {
                return None;
            }
            // A register of a capability whose title changed is read with the title's
            // group, the whole capability.
            let in_title_group = g
                .title
                .is_some_and(|t| groups.iter().any(|o| o.start == t && o.cap_index.is_some()));
            if groups.last() != Some(&g) && !in_title_group {
                if groups.len() == MAX_CHANGED_GROUPS {
                    return None;
                }
                groups.push(g);
            }
        }
        let mut changes: Vec<(usize, String)> = Vec::new();
        let mut caps: Vec<(usize, Arc<Capability>)> = Vec::new();
        for g in &groups {
            let window = &mut self.window;
            window.clear();
            window.extend(g.title);
            window.extend(g.start..g.end);
            let now = read_group(parser, &t.text, &t.lines, window, Some((text, changed)))?;
            let was = match t.groups.iter().position(|(start, _)| *start == g.start) {
                Some(k) => &t.groups[k].1,
                None => {
                    let was = read_group(parser, &t.text, &t.lines, window, None)?;
                    t.groups.push((g.start, was));
                    &t.groups[t.groups.len() - 1].1
                }
            };
            if was.fields.len() != now.fields.len() {
                return None;
            }
            if let Some(k) = g.cap_index {
                if was.capability != now.capability {
                    let now = now.capability.clone()?;
                    if t.device.capabilities.get(k) != was.capability.as_ref() {
                        return None;
                    }
                    caps.push((k, now));
                }
            }
            for (a, b) in was.fields.iter().zip(now.fields.iter()) {
                if a.key != b.key {
                    return None;
                }
                if a.value == b.value {
                    continue;
                }
                let key = a.key.as_str();
                let pos = t.device.fields.position(key)?;
                // The key must name this one setting of the whole device (see module docs).
                if key.contains('#')
                    || t.device.fields.get_at(pos).map(|f| f.value) != Some(a.value)
                {
                    return None;
                }
                let repeat = &mut self.repeat_key;
                repeat.clear();
                repeat.push_str(key);
                repeat.push_str("#2");
                if t.device.fields.position(repeat).is_some() {
                    return None;
                }
                changes.push((pos, b.value.to_string()));
            }
        }
        self.derived += 1;
        if changes.is_empty() && caps.is_empty() {
            return Some(same_on_line(&t.device, line, Vec::new()));
        }
        let values: Vec<(usize, &str)> = changes.iter().map(|(p, v)| (*p, v.as_str())).collect();
        let fields = t.device.fields.with_values(&values)?;
        let d = &t.device;
        // Spelled out rather than cloned: the settings are the bulk of a device and are
        // new anyway.
        let mut dev = Device {
            host: d.host.clone(),
            address: d.address,
            ids: d.ids,
            names: d.names.clone(),
            header_type: d.header_type,
            bus: d.bus,
            header: d.header.clone(),
            capabilities: d.capabilities.clone(),
            fields,
            driver: d.driver.clone(),
            kernel_modules: d.kernel_modules.clone(),
            config: d.config.clone(),
            line: Some(line),
        };
        for (k, cap) in caps {
            *dev.capabilities.get_mut(k)? = cap;
        }
        let mut changed: Vec<u32> = changes.iter().map(|&(p, _)| p as u32).collect();
        changed.sort_unstable();
        changed.dedup();
        let from = Arc::clone(&t.device);
        Some((
            Arc::new(dev),
            Some(Derived {
                from,
                changed: changed.into(),
            }),
        ))
    }

    /// Makes `text` (parsed in full into `device`) the template of its shape, if the shape
    /// has none and the block is plain lspci text (no hex rows, no wrapped lines).
    pub(crate) fn offer(&mut self, text: &str, device: &Arc<Device>) {
        if device.config.is_some() || device.host.is_some() {
            return;
        }
        let key = shape(text);
        if self.by_shape.contains_key(&key) {
            return;
        }
        // Every line after the header is indented or blank: no hex row, no wrapped line.
        let plain = text
            .split('\n')
            .skip(1)
            .all(|l| l.is_empty() || l.starts_with('\t'));
        if !plain {
            return;
        }
        if self.bytes + text.len() > TEMPLATE_BYTES {
            self.by_shape.clear();
            self.bytes = 0;
        }
        self.bytes += text.len();
        let mut lines = Vec::new();
        split_lines(text, &mut lines);
        self.by_shape.insert(
            key,
            Template {
                text: text.into(),
                lines,
                device: Arc::clone(device),
                groups: Vec::new(),
                group_of_line: Vec::new(),
            },
        );
    }
}

/// The template's device for a block at line `line` whose settings are the template's:
/// itself when it starts there too, else a copy that says so (`changed` is empty).
fn same_on_line(
    device: &Arc<Device>,
    line: usize,
    changed: Vec<u32>,
) -> (Arc<Device>, Option<Derived>) {
    if device.line == Some(line) {
        return (Arc::clone(device), None);
    }
    let mut dev = Device::clone(device);
    dev.line = Some(line);
    let derived = Derived {
        from: Arc::clone(device),
        changed: changed.into(),
    };
    (Arc::new(dev), Some(derived))
}

/// The group of line `i` of a block (`src`, lines `lines`), or `None` for a line this
/// module does not derive (column 0, odd indentation).
fn group_of(src: &str, lines: &[(usize, usize)], i: usize) -> Option<Group> {
    let text = |j: usize| &src[lines[j].0..lines[j].1];
    let indent = tabs(text(i))?;
    if indent == 0 {
        return None;
    }
    // The capability the line is in, if any: the last one-tab line above decides.
    let mut title = None;
    let mut caps_before = 0;
    for j in 1..i {
        let l = text(j);
        if tabs(l) == Some(1) {
            if is_cap_title(l) {
                title = Some(j);
                caps_before += 1;
            } else {
                title = None;
            }
        }
    }
    // Extends the group over the lines indented deeper than `base`.
    let end_after = |start: usize, base: usize| -> Option<usize> {
        let mut end = start + 1;
        while end < lines.len() {
            let l = text(end);
            if l.is_empty() {
                break;
            }
            if tabs(l)? <= base {
                break;
            }
            end += 1;
        }
        Some(end)
    };
    if indent == 1 {
        let cap = is_cap_title(text(i));
        return Some(Group {
            title: None,
            start: i,
            end: end_after(i, 1)?,
            cap_index: cap.then_some(caps_before),
        });
    }
    match title {
        // A capability register: from its first line (two tabs) through its continuations.
        Some(t) => {
            let start = (t + 1..=i).rev().find(|&j| tabs(text(j)) == Some(2));
            match start {
                Some(start) => Some(Group {
                    title: Some(t),
                    start,
                    end: end_after(start, 2)?,
                    cap_index: None,
                }),
                // A continuation right under the title: the title's group.
                None => Some(Group {
                    title: None,
                    start: t,
                    end: end_after(t, 1)?,
                    cap_index: Some(caps_before - 1),
                }),
            }
        }
        // A header register's continuation: from the register.
        None => {
            let start = (1..i).rev().find(|&j| tabs(text(j)) == Some(1))?;
            Some(Group {
                title: None,
                start,
                end: end_after(start, 1)?,
                cap_index: None,
            })
        }
    }
}

/// Reads the lines `window` (indices into `lines` of `src`) as one group; with
/// `Some((text, changed))`, the lines listed in `changed` as (index, start, end in `text`)
/// are read from `text` instead.
fn read_group(
    parser: &mut TextParser,
    src: &str,
    lines: &[(usize, usize)],
    window: &[usize],
    replaced: Option<(&str, &[ChangedLine])>,
) -> Option<GroupSettings> {
    let mut group: Vec<&str> = Vec::with_capacity(window.len());
    for &j in window {
        let new = replaced.and_then(|(text, changed)| {
            changed
                .iter()
                .find(|c| c.0 == j)
                .map(|&(_, s, e)| &text[s..e])
        });
        match new {
            Some(line) => group.push(line),
            None => {
                let (s, e) = *lines.get(j)?;
                group.push(&src[s..e]);
            }
        }
    }
    parser.read_group(&group)
}

/// Offset of the first byte where `a` and `b` differ, or `None` when one is a prefix of
/// the other. Most of a block is the same as its template's: it is compared 512 bytes at
/// a time, then the differing run 32 at a time, then byte by byte (one 32-byte compare
/// per step all the way cost as much as the rest of a derivation).
fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    let n = a.len().min(b.len());
    let mut i = 0;
    for step in [512, 32] {
        while i + step <= n && a[i..i + step] == b[i..i + step] {
            i += step;
        }
    }
    (i..n).find(|&k| a[k] != b[k])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_follow_the_tokenizer() {
        let block = concat!(
            "00:01.0 PCI bridge: X\n",                               // 0
            "\tControl: I/O+ Mem+\n",                                // 1
            "\tBus: primary=00, secondary=01\n",                     // 2
            "\t\tcontinued\n",                                       // 3
            "\tCapabilities: [40] Express (v2) Root Port\n",         // 4
            "\t\tDevCap: MaxPayload 256 bytes\n",                    // 5
            "\t\t\tExtTag+ RBE+\n",                                  // 6
            "\t\tDevCtl: CorrErr+\n",                                // 7
            "\tCapabilities: [100 v1] Device Serial Number 00-11\n", // 8
            "\tKernel driver in use: pcieport\n",                    // 9
            "\n",
        );
        let mut lines = Vec::new();
        split_lines(block, &mut lines);
        let g = |i| group_of(block, &lines, i);
        assert_eq!(g(0), None);
        assert_eq!(
            g(1),
            Some(Group {
                title: None,
                start: 1,
                end: 2,
                cap_index: None
            })
        );
        assert_eq!(
            g(3),
            Some(Group {
                title: None,
                start: 2,
                end: 4,
                cap_index: None
            })
        );
        assert_eq!(
            g(4),
            Some(Group {
                title: None,
                start: 4,
                end: 8,
                cap_index: Some(0)
            })
        );
        assert_eq!(
            g(6),
            Some(Group {
                title: Some(4),
                start: 5,
                end: 7,
                cap_index: None
            })
        );
        assert_eq!(
            g(8),
            Some(Group {
                title: None,
                start: 8,
                end: 9,
                cap_index: Some(1)
            })
        );
        assert_eq!(
            g(9),
            Some(Group {
                title: None,
                start: 9,
                end: 10,
                cap_index: None
            })
        );
    }

    #[test]
    fn first_difference_finds_the_first_differing_byte_at_any_offset() {
        let a: Vec<u8> = (0..1500u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(first_difference(&a, &a), None);
        assert_eq!(first_difference(&a, &a[..700]), None);
        assert_eq!(first_difference(&a[..3], &a), None);
        for at in [0, 1, 31, 32, 33, 511, 512, 513, 543, 544, 1023, 1024, 1499] {
            let mut b = a.clone();
            b[at] ^= 0x40;
            // A later difference too: the first one is reported.
            if at + 100 < b.len() {
                b[at + 100] ^= 0x40;
            }
            assert_eq!(first_difference(&a, &b), Some(at), "at {at}");
            assert_eq!(first_difference(&b[..at + 1], &a), Some(at), "at {at}");
        }
    }

    #[test]
    fn odd_indentation_is_not_derived() {
        assert_eq!(tabs("\tA"), Some(1));
        assert_eq!(tabs("\t\t\t AtomicOpsCap"), Some(3));
        assert_eq!(tabs("\t  two spaces"), None);
        assert_eq!(tabs("        eight spaces"), None);
        assert_eq!(tabs("\t"), None);
        assert_eq!(tabs("col0"), Some(0));
    }
}
