//! The line tokenizer: rendered register lines → flat `(key, value)` settings.
//!
//! Both front ends (text parser and binary decoder) store a device as the lines lspci prints;
//! this module is the one place that turns lines into settings, so the two agree by
//! construction. The rules (documented with examples in `docs/fields.md`):
//!
//! * A line `Reg: content` opens register `Reg`; indented continuation lines extend it. A
//!   continuation that starts with a single CamelCase word and a colon (`AtomicOpsCap:`)
//!   opens a new register, as older lspci versions print it on its own line.
//! * `content` splits into chunks at top-level `,` and `;`. In a chunk, `Name+`/`Name-` is a
//!   flag (`DevCtl.RlxdOrd` = `-`), `Name=value` a setting (`Status.DEVSEL` = `fast`), and
//!   `Some Name: value` a named sub-setting (`LnkCtl2.Target Link Speed` = `8GT/s`). Other
//!   words form a phrase `Name value...` (`DevCtl.MaxReadReq` = `512 bytes`). A phrase that
//!   does not start with a name continues the previous setting (`0dB preshoot`) or, if it is
//!   the first, is the register's own value (`MSI.Address` = `00000000fee0e000`).
//! * Link annotations are split off: `Speed 2.5GT/s (downgraded)` gives `LnkSta.Speed` =
//!   `2.5GT/s` and `LnkSta.Speed.Note` = `downgraded`; `(ok)` (printed only by some lspci
//!   versions) is dropped so keys compare across versions.
//! * Registers of capabilities with generic register names carry the capability's tag
//!   (`PM.Status.NoSoftRst`, `MSI-X.Enable`); see [`crate::caps`].
//! * Keys are unique within a device: a repeat gets `#2`, `#3`...

use std::collections::HashMap;

use crate::caps;
use crate::device::{Capability, Device, Field, Line};

/// Header registers whose whole content is one value (addresses, names, sizes).
const OPAQUE_REGISTERS: &[&str] = &[
    "Subsystem",
    "Physical Slot",
    "Expansion ROM",
    "I/O behind bridge",
    "Memory behind bridge",
    "Prefetchable memory behind bridge",
    "Kernel driver in use",
    "Kernel modules",
    "NUMA node",
    "IOMMU group",
    "Device tree node",
    "Flags",
    "Product Name",
    "Interrupt",
    "Module",
];

/// Phrases whose name is more than one word.
const MULTI_WORD_NAMES: &[&str] = &["Exit Latency", "LN System CLS", "PME ReqID"];

/// Derives the flat settings of a device from its header and capability lines.
pub fn device_fields(dev: &Device) -> Vec<Field> {
    // About three settings per line; sizing up front saves the rehashes and regrowths
    // that showed in parse profiles.
    let lines = dev.header.len()
        + dev
            .capabilities
            .iter()
            .map(|c| c.lines.len() + 1)
            .sum::<usize>();
    let mut sink = Sink::with_capacity(lines * 3);
    tokenize_block(&dev.header, true, |reg| reg.to_string(), &mut sink);
    for cap in &dev.capabilities {
        let prefix = capability_prefix(cap);
        title_fields(cap, &prefix, &mut sink);
        let tag = cap.tag.as_str();
        let key_of = |reg: &str| -> String {
            if caps::is_multi_instance(tag)
                || !caps::registers_unprefixed(tag)
                || caps::register_collides(tag, reg)
            {
                format!("{prefix}.{reg}")
            } else {
                reg.to_string()
            }
        };
        tokenize_block(&cap.lines, false, key_of, &mut sink);
    }
    sink.fields
}

/// `MSI`, `PM`, or `VSEC[100]` for capabilities that can repeat.
pub fn capability_prefix(cap: &Capability) -> String {
    if caps::is_multi_instance(&cap.tag) {
        format!("{}[{:x}]", cap.tag, cap.offset)
    } else {
        cap.tag.clone()
    }
}

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

/// `reg.name`, built directly: this runs for every field of every device, and `format!`
/// costs several times more than two copies.
fn join_key(reg: &str, name: &str) -> String {
    let mut key = String::with_capacity(reg.len() + 1 + name.len());
    key.push_str(reg);
    key.push('.');
    key.push_str(name);
    key
}

/// FNV-1a: keys are short, trusted-length strings hashed once per field, where SipHash's
/// setup cost dominated parsing profiles. Hash flooding is no concern: a device's key
/// count is bounded by its line count.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Collects fields, making keys unique.
#[derive(Default)]
struct Sink {
    fields: Vec<Field>,
    seen: HashMap<String, u32, std::hash::BuildHasherDefault<Fnv>>,
}

impl Sink {
    fn with_capacity(n: usize) -> Self {
        Self {
            fields: Vec::with_capacity(n),
            seen: HashMap::with_capacity_and_hasher(n, Default::default()),
        }
    }

    fn push(&mut self, key: String, value: String) {
        // `DevCtl: Report errors: Correctable+ ...` (lspci before 3.7) is a label, not a
        // setting: its flags follow under their own names.
        if value.is_empty() && key.ends_with(".Report errors") {
            return;
        }
        let key = match canonical_key(&key) {
            Some(k) => k.to_string(),
            None => key,
        };
        // Most keys are new: look up before cloning, so a repeat costs no allocation and a
        // new key one.
        let key = match self.seen.get_mut(key.as_str()) {
            Some(n) => {
                *n += 1;
                format!("{key}#{n}")
            }
            None => {
                self.seen.insert(key.clone(), 1);
                key
            }
        };
        self.fields.push(Field { key, value });
    }

    /// Appends to the value of the most recent field (a continuation such as `0dB preshoot`).
    fn append_last(&mut self, sep: &str, text: &str) {
        if let Some(f) = self.fields.last_mut() {
            f.value.push_str(sep);
            f.value.push_str(text);
        }
    }
}

/// Fields carried by a capability's title line (`MSI: Enable+ Count=1/1`, `Express (v2) ...`).
fn title_fields(cap: &Capability, prefix: &str, sink: &mut Sink) {
    let title = cap.title.trim();
    match cap.tag.as_str() {
        "Express" => express_title(title, prefix, sink),
        "PM" => {
            if let Some(v) = title.rsplit_once("version ").map(|(_, v)| v.trim()) {
                sink.push(format!("{prefix}.Version"), v.to_string());
            }
        }
        "DSN" => {
            if let Some(v) = title.strip_prefix("Device Serial Number") {
                sink.push(prefix.to_string(), collapse(v));
            }
        }
        // A name, not a setting: identity lives in `Device::ids`, and names differ between
        // pci.ids versions.
        "SSVID" => {}
        _ => {
            if let Some((_, content)) = title.split_once(": ") {
                tokenize_content(prefix, content, sink);
            } else if cap.offset == 0 && title == "<access denied>" {
                sink.push("Capabilities".into(), title.to_string());
            }
        }
    }
}

/// `Express (v2) Root Port (Slot+), MSI 00` → `Express.Version`, `Express.Type`,
/// `Express.Slot`, `Express.MSI`.
fn express_title(title: &str, prefix: &str, sink: &mut Sink) {
    let mut rest = title.strip_prefix("Express").unwrap_or(title).trim_start();
    if let Some(r) = rest.strip_prefix("(v") {
        if let Some((v, r2)) = r.split_once(')') {
            sink.push(format!("{prefix}.Version"), v.to_string());
            rest = r2.trim_start();
        }
    }
    let (kind, msi) = match rest.rsplit_once(", MSI ") {
        Some((k, m)) => (k, Some(m)),
        None => (rest, None),
    };
    let (kind, slot) = match kind.rsplit_once(" (Slot") {
        Some((k, s)) => (k, s.strip_suffix(')')),
        None => (kind, None),
    };
    sink.push(format!("{prefix}.Type"), collapse(kind));
    if let Some(s) = slot {
        sink.push(format!("{prefix}.Slot"), s.to_string());
    }
    if let Some(m) = msi {
        sink.push(format!("{prefix}.MSI"), m.trim().to_string());
    }
}

/// Groups lines into registers and tokenizes each.
fn tokenize_block(
    lines: &[Line],
    is_header: bool,
    key_of: impl Fn(&str) -> String,
    sink: &mut Sink,
) {
    let mut current: Option<String> = None;
    for line in lines {
        let text = line.text.trim();
        if text.is_empty() {
            continue;
        }
        if line.depth == 0 {
            match split_register(text) {
                // A name, not a setting: the numeric ids live in `Device::ids`, and names
                // differ between pci.ids versions, so parse and decode would disagree.
                Some(("Subsystem", _)) if is_header => current = None,
                Some((reg, content)) => {
                    let key = key_of(reg);
                    if is_opaque(reg, is_header) {
                        sink.push(key.clone(), collapse(content));
                        current = None;
                        continue;
                    }
                    tokenize_content(&key, content, sink);
                    current = Some(key);
                }
                None => {
                    // A line with no register name (`End` in VPD, `Not readable`): kept whole.
                    sink.push(key_of("raw"), collapse(text));
                    current = None;
                }
            }
            continue;
        }
        if let Some((reg, content)) = split_camel_register(text) {
            let key = key_of(reg);
            tokenize_content(&key, content, sink);
            current = Some(key);
            continue;
        }
        match &current {
            Some(key) => tokenize_content(key, text, sink),
            None => sink.push(key_of("raw"), collapse(text)),
        }
    }
}

/// Header registers in [`OPAQUE_REGISTERS`], and BAR descriptions anywhere (SR-IOV VF BARs,
/// Resizable BAR).
fn is_opaque(reg: &str, is_header: bool) -> bool {
    (is_header && OPAQUE_REGISTERS.contains(&reg))
        || reg.starts_with("Region ")
        || reg.starts_with("BAR ")
}

/// `DevCtl:\tCorrErr- ...` → `("DevCtl", "CorrErr- ...")`. The register name is the text up
/// to the first colon that is followed by whitespace or ends the line.
pub(crate) fn split_register(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b':' if i > 0 && (i + 1 == bytes.len() || bytes[i + 1].is_ascii_whitespace()) => {
                let name = text[..i].trim();
                if name.is_empty() {
                    return None;
                }
                return Some((name, text[i + 1..].trim()));
            }
            // A setting or flag before any colon means this is not `Name: ...`.
            b'=' | b'+' | b',' => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// A continuation line that opens its own register: `AtomicOpsCap: 32bit- ...`.
fn split_camel_register(text: &str) -> Option<(&str, &str)> {
    let (first, rest) = match text.split_once(char::is_whitespace) {
        Some((f, r)) => (f, r),
        None => (text, ""),
    };
    let name = first.strip_suffix(':')?;
    is_camel_word(name).then_some((name, rest.trim()))
}

fn is_camel_word(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && s.chars().all(|c| c.is_ascii_alphanumeric())
        && s.chars().any(|c| c.is_ascii_lowercase())
}

/// Splits at top-level `,` and `;` (not inside `()` or `[]`).
fn split_chunks(content: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in content.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | ';' if depth <= 0 => {
                out.push(&content[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&content[start..]);
    out
}

/// Splits a chunk into whitespace tokens, keeping `(...)` and `[...]` groups whole.
fn split_tokens(chunk: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start: Option<usize> = None;
    for (i, c) in chunk.char_indices() {
        match c {
            '(' | '[' => {
                depth += 1;
                start.get_or_insert(i);
            }
            ')' | ']' => {
                depth -= 1;
                start.get_or_insert(i);
            }
            c if c.is_whitespace() && depth <= 0 => {
                if let Some(s) = start.take() {
                    out.push(&chunk[s..i]);
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
    }
    if let Some(s) = start {
        out.push(&chunk[s..]);
    }
    out
}

/// `Name+` / `Name-`.
fn as_flag(tok: &str) -> Option<(&str, &str)> {
    // Strip the sign as a character: a token may end in a multi-byte one (a stray byte
    // read as U+FFFD), where splitting at `len - 1` is not a char boundary.
    let name = tok.strip_suffix(['+', '-'])?;
    let sign = &tok[name.len()..];
    if name.is_empty() {
        return None;
    }
    // `-6dB`-style values never end in a sign; a name needs a letter.
    if !name.bytes().any(|b| b.is_ascii_alphabetic()) || name.ends_with(['+', '-', '/']) {
        return None;
    }
    Some((name, sign))
}

/// `Name=value`.
fn as_setting(tok: &str) -> Option<(&str, &str)> {
    if tok.starts_with(['[', '(']) {
        return None;
    }
    let (k, v) = tok.split_once('=')?;
    (!k.is_empty()).then_some((k, v))
}

/// `PME(D0+,D1-)` → (`PME`, `D0+,D1-`).
fn as_call(tok: &str) -> Option<(&str, &str)> {
    let open = tok.find('(')?;
    let inner = tok.get(open + 1..)?.strip_suffix(')')?;
    let name = &tok[..open];
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric())).then_some((name, inner))
}

fn is_name_word(tok: &str) -> bool {
    tok.starts_with(|c: char| c.is_ascii_alphabetic())
        && !tok.bytes().any(|b| b.is_ascii_digit())
        && !tok.contains(['(', '[', '<', '>', '='])
}

/// Tokenizes one register's content into settings under `reg`.
fn tokenize_content(reg: &str, content: &str, sink: &mut Sink) {
    let mut reg_owned = reg.to_string();
    let mut any_in_line = false;
    for (chunk_index, chunk) in split_chunks(content).into_iter().enumerate() {
        let mut phrase: Vec<&str> = Vec::new();
        let mut sub: Option<String> = None;
        let tokens = split_tokens(chunk);
        let first_chunk_token = tokens.first().copied();
        for tok in tokens {
            if let Some(name) = tok.strip_suffix(':').filter(|n| !n.is_empty()) {
                // `Data:` after a value is a sibling register (`Address: ... Data: ...`).
                let value_only = phrase.first().is_some_and(|w| !is_name_word(w));
                if sub.is_none() && value_only && is_camel_word(name) {
                    flush(
                        &reg_owned,
                        &mut phrase,
                        &mut sub,
                        sink,
                        &mut any_in_line,
                        false,
                    );
                    any_in_line = false;
                    let base = reg_owned.rsplit_once('.').map(|(b, _)| b.to_string());
                    reg_owned = match base {
                        Some(b) => format!("{b}.{name}"),
                        None => name.to_string(),
                    };
                    continue;
                }
                // With a sub-setting pending, the words so far are its value; otherwise they
                // are the start of this sub-setting's name (`Completion Timeout:`).
                let mut full = String::new();
                if sub.is_some() {
                    flush(
                        &reg_owned,
                        &mut phrase,
                        &mut sub,
                        sink,
                        &mut any_in_line,
                        false,
                    );
                } else {
                    full = phrase.join(" ");
                    phrase.clear();
                    if !full.is_empty() {
                        full.push(' ');
                    }
                }
                full.push_str(name);
                sub = Some(full);
                continue;
            }
            if let Some((name, sign)) = as_flag(tok) {
                flush(
                    &reg_owned,
                    &mut phrase,
                    &mut sub,
                    sink,
                    &mut any_in_line,
                    false,
                );
                sink.push(join_key(&reg_owned, name), sign.to_string());
                any_in_line = true;
                continue;
            }
            if let Some((k, v)) = as_setting(tok).or_else(|| as_call(tok)) {
                flush(
                    &reg_owned,
                    &mut phrase,
                    &mut sub,
                    sink,
                    &mut any_in_line,
                    false,
                );
                sink.push(join_key(&reg_owned, k), v.to_string());
                any_in_line = true;
                continue;
            }
            phrase.push(tok);
        }
        let continues =
            chunk_index > 0 && first_chunk_token.is_some_and(|t| !starts_phrase_name(t));
        flush(
            &reg_owned,
            &mut phrase,
            &mut sub,
            sink,
            &mut any_in_line,
            continues,
        );
    }
}

fn starts_phrase_name(tok: &str) -> bool {
    is_name_word(tok) || tok.ends_with(':')
}

/// Emits the pending phrase. Returns true when something was emitted.
fn flush(
    reg: &str,
    phrase: &mut Vec<&str>,
    sub: &mut Option<String>,
    sink: &mut Sink,
    any_in_line: &mut bool,
    continues_previous: bool,
) -> bool {
    if let Some(name) = sub.take() {
        let value = phrase.join(" ");
        phrase.clear();
        push_value(sink, join_key(reg, &name), &value);
        *any_in_line = true;
        return true;
    }
    if phrase.is_empty() {
        return false;
    }
    let words = std::mem::take(phrase);
    let joined = words.join(" ");
    let multi = MULTI_WORD_NAMES.iter().find(|n| {
        joined.starts_with(*n) && joined.len() > n.len() && joined.as_bytes()[n.len()] == b' '
    });
    if let Some(name) = multi {
        push_value(sink, join_key(reg, name), joined[name.len()..].trim());
    } else if words.len() >= 2 && is_name_word(words[0]) {
        push_value(sink, join_key(reg, words[0]), &words[1..].join(" "));
    } else if continues_previous && *any_in_line {
        sink.append_last(", ", &joined);
    } else {
        push_value(sink, reg.to_string(), &joined);
    }
    *any_in_line = true;
    true
}

/// Pushes `key = value`, splitting off a link annotation such as `(downgraded)`.
fn push_value(sink: &mut Sink, key: String, value: &str) {
    let value = value.trim();
    for (suffix, note) in [
        ("(downgraded)", Some("downgraded")),
        ("(overdriven)", Some("overdriven")),
        ("(ok)", None),
    ] {
        if let Some(v) = value.strip_suffix(suffix) {
            sink.push(key.clone(), v.trim_end().to_string());
            if let Some(n) = note {
                sink.push(join_key(&key, "Note"), n.to_string());
            }
            return;
        }
    }
    sink.push(key, value.to_string());
}

/// Collapses runs of whitespace to one space.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::CapabilitySpace;

    fn fields_of(title: &str, tag: &str, lines: &[(u8, &str)]) -> Vec<(String, String)> {
        let dev = Device {
            capabilities: vec![Capability {
                space: CapabilitySpace::Standard,
                offset: 0x60,
                id: None,
                version: None,
                tag: tag.into(),
                title: title.into(),
                lines: lines
                    .iter()
                    .map(|(d, t)| Line {
                        depth: *d,
                        text: (*t).into(),
                    })
                    .collect(),
            }],
            ..Device::default()
        };
        device_fields(&dev)
            .into_iter()
            .map(|f| (f.key, f.value))
            .collect()
    }

    fn get<'a>(f: &'a [(String, String)], k: &str) -> Option<&'a str> {
        f.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn express_registers() {
        let f = fields_of(
            "Express (v2) Endpoint, MSI 00",
            "Express",
            &[
                (0, "DevCap:\tMaxPayload 256 bytes, PhantFunc 0, Latency L0s <64ns, L1 unlimited"),
                (1, "ExtTag- AttnBtn- RBE+ FLReset+ SlotPowerLimit 116W"),
                (0, "DevCtl:\tCorrErr- NonFatalErr- FatalErr- UnsupReq-"),
                (1, "RlxdOrd+ ExtTag- PhantFunc- AuxPwr- NoSnoop- FLReset-"),
                (1, "MaxPayload 256 bytes, MaxReadReq 4096 bytes"),
                (0, "LnkCap:\tPort #8, Speed 8GT/s, Width x8, ASPM L0s L1, Exit Latency L0s <512ns, L1 <16us"),
                (0, "LnkSta:\tSpeed 2.5GT/s (downgraded), Width x8 (ok)"),
                (1, "TrErr- Train- SlotClk+ DLActive- BWMgmt- ABWMgmt-"),
                (0, "DevCap2: Completion Timeout: Range ABCD, TimeoutDis+ NROPrPrP- LTR-"),
                (1, "10BitTagComp- 10BitTagReq- OBFF Not Supported, ExtFmt- EETLPPrefix-"),
                (1, "AtomicOpsCap: 32bit- 64bit- 128bitCAS-"),
                (0, "LnkCtl2: Target Link Speed: 8GT/s, EnterCompliance- SpeedDis-"),
                (1, "Compliance Preset/De-emphasis: -6dB de-emphasis, 0dB preshoot"),
                (0, "LnkCtl:\tASPM Disabled; RCB 64 bytes, Disabled- CommClk+"),
            ],
        );
        assert_eq!(get(&f, "Express.Type"), Some("Endpoint"));
        assert_eq!(get(&f, "Express.Version"), Some("2"));
        assert_eq!(get(&f, "DevCap.MaxPayload"), Some("256 bytes"));
        assert_eq!(get(&f, "DevCap.Latency"), Some("L0s <64ns, L1 unlimited"));
        assert_eq!(get(&f, "DevCap.SlotPowerLimit"), Some("116W"));
        assert_eq!(get(&f, "DevCtl.RlxdOrd"), Some("+"));
        assert_eq!(get(&f, "DevCtl.MaxReadReq"), Some("4096 bytes"));
        assert_eq!(get(&f, "LnkCap.Port"), Some("#8"));
        assert_eq!(get(&f, "LnkCap.ASPM"), Some("L0s L1"));
        assert_eq!(get(&f, "LnkCap.Exit Latency"), Some("L0s <512ns, L1 <16us"));
        assert_eq!(get(&f, "LnkSta.Speed"), Some("2.5GT/s"));
        assert_eq!(get(&f, "LnkSta.Speed.Note"), Some("downgraded"));
        assert_eq!(get(&f, "LnkSta.Width"), Some("x8"));
        assert_eq!(get(&f, "LnkSta.Width.Note"), None);
        assert_eq!(get(&f, "LnkSta.DLActive"), Some("-"));
        assert_eq!(get(&f, "DevCap2.Completion Timeout"), Some("Range ABCD"));
        assert_eq!(get(&f, "DevCap2.OBFF"), Some("Not Supported"));
        assert_eq!(get(&f, "DevCap2.10BitTagComp"), Some("-"));
        assert_eq!(get(&f, "AtomicOpsCap.128bitCAS"), Some("-"));
        assert_eq!(get(&f, "LnkCtl2.Target Link Speed"), Some("8GT/s"));
        assert_eq!(
            get(&f, "LnkCtl2.Compliance Preset/De-emphasis"),
            Some("-6dB de-emphasis, 0dB preshoot")
        );
        assert_eq!(get(&f, "LnkCtl.ASPM"), Some("Disabled"));
        assert_eq!(get(&f, "LnkCtl.RCB"), Some("64 bytes"));
        assert_eq!(get(&f, "LnkCtl.Disabled"), Some("-"));
    }

    #[test]
    fn msi_and_pm_are_prefixed() {
        let f = fields_of(
            "MSI: Enable+ Count=1/1 Maskable- 64bit+",
            "MSI",
            &[(0, "Address: 00000000fee0e000  Data: 0037")],
        );
        assert_eq!(get(&f, "MSI.Enable"), Some("+"));
        assert_eq!(get(&f, "MSI.Count"), Some("1/1"));
        assert_eq!(get(&f, "MSI.Address"), Some("00000000fee0e000"));
        assert_eq!(get(&f, "MSI.Data"), Some("0037"));
        let f = fields_of(
            "Power Management version 3",
            "PM",
            &[
                (
                    0,
                    "Flags: PMEClk- DSI- D1- D2- AuxCurrent=0mA PME(D0+,D1-,D2-,D3hot+,D3cold-)",
                ),
                (0, "Status: D0 NoSoftRst+ PME-Enable- DSel=0 DScale=0 PME-"),
            ],
        );
        assert_eq!(get(&f, "PM.Version"), Some("3"));
        assert_eq!(get(&f, "PM.Flags.PME"), Some("D0+,D1-,D2-,D3hot+,D3cold-"));
        assert_eq!(get(&f, "PM.Status"), Some("D0"));
        assert_eq!(get(&f, "PM.Status.PME-Enable"), Some("-"));
        assert_eq!(get(&f, "PM.Status.PME"), Some("-"));
    }

    #[test]
    fn aer_root_registers_are_prefixed_and_error_source_nests() {
        let f = fields_of(
            "Advanced Error Reporting",
            "AER",
            &[
                (
                    0,
                    "CESta:\tRxErr- BadTLP+ BadDLLP- Rollover- Timeout- AdvNonFatalErr-",
                ),
                (0, "RootSta: CERcvd- MultCERcvd- UERcvd- MultUERcvd-"),
                (1, "FirstFatal- NonFatalMsg- FatalMsg- IntMsg 0"),
                (0, "ErrorSrc: ERR_COR: 0000 ERR_FATAL/NONFATAL: 0000"),
            ],
        );
        assert_eq!(get(&f, "CESta.BadTLP"), Some("+"));
        assert_eq!(get(&f, "AER.RootSta.CERcvd"), Some("-"));
        assert_eq!(get(&f, "AER.RootSta.IntMsg"), Some("0"));
        assert_eq!(get(&f, "AER.ErrorSrc.ERR_COR"), Some("0000"));
        assert_eq!(get(&f, "AER.ErrorSrc.ERR_FATAL/NONFATAL"), Some("0000"));
    }

    #[test]
    fn header_registers() {
        let dev = Device {
            header: vec![
                Line::reg("Control: I/O+ Mem+ BusMaster+ SpecCycle- MemWINV-"),
                Line::reg("Status: Cap+ 66MHz- DEVSEL=fast >TAbort- <TAbort-"),
                Line::reg("Latency: 0, Cache Line Size: 64 bytes"),
                Line::reg("Region 0: Memory at c0100000 (32-bit, non-prefetchable) [size=1M]"),
                Line::reg("Bus: primary=00, secondary=03, subordinate=03, sec-latency=0"),
                Line::reg("BridgeCtl: Parity- SERR- NoISA- VGA- VGA16+ MAbort- >Reset- FastB2B-"),
                Line::cont("PriDiscTmr- SecDiscTmr- DiscTmrStat- DiscTmrSERREn-"),
            ],
            ..Device::default()
        };
        let f: Vec<(String, String)> = device_fields(&dev)
            .into_iter()
            .map(|f| (f.key, f.value))
            .collect();
        assert_eq!(get(&f, "Control.I/O"), Some("+"));
        assert_eq!(get(&f, "Status.DEVSEL"), Some("fast"));
        assert_eq!(get(&f, "Status.>TAbort"), Some("-"));
        assert_eq!(get(&f, "Latency"), Some("0"));
        assert_eq!(get(&f, "Latency.Cache Line Size"), Some("64 bytes"));
        assert_eq!(
            get(&f, "Region 0"),
            Some("Memory at c0100000 (32-bit, non-prefetchable) [size=1M]")
        );
        assert_eq!(get(&f, "Bus.secondary"), Some("03"));
        assert_eq!(get(&f, "BridgeCtl.DiscTmrSERREn"), Some("-"));
    }

    #[test]
    fn old_lspci_names_map_to_current_ones() {
        let f = fields_of(
            "Express (v2) Endpoint, MSI 00",
            "Express",
            &[
                (
                    0,
                    "DevCtl:\tReport errors: Correctable+ Non-Fatal+ Fatal+ Unsupported+",
                ),
                (
                    0,
                    "DevSta:\tCorrErr+ UncorrErr- FatalErr- UnsuppReq+ AuxPwr- TransPend-",
                ),
            ],
        );
        assert_eq!(get(&f, "DevCtl.CorrErr"), Some("+"));
        assert_eq!(get(&f, "DevCtl.UnsupReq"), Some("+"));
        assert_eq!(get(&f, "DevSta.NonFatalErr"), Some("-"));
        assert_eq!(get(&f, "DevSta.UnsupReq"), Some("+"));
        assert!(f.iter().all(|(k, _)| !k.contains("Report errors")));
    }

    #[test]
    fn repeated_keys_are_numbered() {
        let mut s = Sink::default();
        s.push("a".into(), "1".into());
        s.push("a".into(), "2".into());
        assert_eq!(s.fields[1].key, "a#2");
    }

    /// Found by the `lspci_text` fuzzer: a token ending in a multi-byte character.
    #[test]
    fn token_ending_in_multibyte_char_is_no_flag() {
        assert_eq!(as_flag("(do\u{fffd}"), None);
        assert_eq!(as_flag("\u{e9}+"), None);
        assert_eq!(as_flag("Caf\u{e9}+"), Some(("Caf\u{e9}", "+")));
    }
}
