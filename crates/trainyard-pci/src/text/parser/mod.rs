//! The line-at-a-time state machine behind [`TextParser`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::header_line::{parse_title, split_address, split_bracket_id, split_host_prefix};
use crate::caps;
use crate::device::{BusNumbers, Capability, CapabilitySpace, Device, Line};
use crate::fields::{FieldBuilder, Tokenizer};
use crate::fxhash::FxBuild;

mod group;
pub use group::GroupSettings;

/// A line that is not part of any device, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line number in the input.
    pub line: usize,
    /// What kind of line it is.
    pub kind: DiagnosticKind,
    /// The line's text.
    pub text: String,
}

/// Why a line was not taken into a device.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// A message lspci wrote to stderr and the capture mixed in (`lspci: Unable to load libkmod`).
    LspciMessage,
    /// Terminal noise around a pasted capture: a `sudo` password prompt, a shell prompt with
    /// the lspci command, a Markdown code fence.
    TerminalNoise,
    /// A line the parser does not understand (not lspci output).
    Unexplained,
    /// A damaged hex row inside a device (`-x` output): the device keeps no config bytes.
    BadHexRow(String),
}

/// Where the last line went, so a wrapped continuation can be appended to it.
#[derive(Debug, Clone, Copy)]
enum Last {
    Title,
    Header,
    CapTitle,
    CapLine,
}

/// A device being read.
#[derive(Debug)]
struct Building {
    dev: Device,
    title: String,
    last: Last,
    cap_open: bool,
    hex: Vec<u8>,
    hex_broken: bool,
    /// Fields-only mode: settings derived line by line instead of lines kept.
    lean: Option<LeanDevice>,
}

/// A device read in fields-only mode: its settings so far, and its last line, held back
/// until the next line shows that no wrapped continuation will be appended to it.
struct LeanDevice {
    fields: Box<FieldBuilder>,
    pending: Pending,
    pending_text: String,
    /// What the header lines tell about identity (`Subsystem:`, `Bus:`, `Control:`).
    identity: Identity,
}

impl LeanDevice {
    /// Holds `text` back as the device's last line.
    fn hold(&mut self, kind: Pending, text: &str) {
        self.pending = kind;
        self.pending_text.clear();
        self.pending_text.push_str(text);
    }
}

/// Derives the settings of the held-back line of `ld` (of device `dev`), now that no wrapped
/// continuation can follow it.
fn flush_pending(ld: &mut LeanDevice, dev: &Device, tk: &mut Tokenizer) {
    let text = ld.pending_text.as_str();
    match std::mem::replace(&mut ld.pending, Pending::None) {
        Pending::None => {}
        Pending::Header(depth) => {
            if depth == 0 {
                ld.identity.line(text);
            }
            ld.fields.header_line(tk, depth, text);
        }
        Pending::CapTitle => {
            if let Some(cap) = dev.capabilities.last() {
                ld.fields.capability(tk, cap);
            }
        }
        Pending::CapLine(depth) => ld.fields.cap_line(tk, depth, text),
    }
}

impl std::fmt::Debug for LeanDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeanDevice")
            .field("pending", &self.pending)
            .field("pending_text", &self.pending_text)
            .finish_non_exhaustive()
    }
}

/// What the held-back line of a [`LeanDevice`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    None,
    Header(u8),
    CapTitle,
    CapLine(u8),
}

/// Fields-only mode's shared state: the tokenizer with its line memo (the thread's, lent
/// for the parser's life), and field builders of finished devices kept for reuse.
struct Lean {
    tokenizer: Box<Tokenizer>,
    spare: Vec<LeanDevice>,
    /// The builder of [`TextParser::read_group`].
    group: Box<FieldBuilder>,
}

impl Default for Lean {
    fn default() -> Self {
        Self {
            tokenizer: Tokenizer::take_spare(),
            spare: Vec::new(),
            group: Box::default(),
        }
    }
}

impl Drop for Lean {
    fn drop(&mut self) {
        Tokenizer::give_back(std::mem::take(&mut self.tokenizer));
    }
}

impl std::fmt::Debug for Lean {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lean").finish_non_exhaustive()
    }
}

/// Streaming `lspci` text parser. See the [module docs](super).
#[derive(Debug, Default)]
pub struct TextParser {
    line_no: usize,
    /// Decided on the first device header line: do lines carry `host: ` prefixes?
    pdsh: Option<bool>,
    /// The device being read from lines without a host prefix (all of them, without pdsh).
    building: Option<Building>,
    /// Devices being read per `pdsh` host.
    by_host: HashMap<String, Building, FxBuild>,
    diagnostics: Vec<Diagnostic>,
    devices: usize,
    ready: VecDeque<Device>,
    /// Set in fields-only mode ([`TextParser::fields_only`]).
    lean: Option<Lean>,
    /// Capability title lines parsed so far (`[90] Express (v2) Endpoint, MSI 00` after
    /// `Capabilities: `): matching a title against the capability names is a third of
    /// reading a line, and a dump repeats its titles many times.
    cap_titles: HashMap<String, Arc<Capability>, FxBuild>,
}

impl TextParser {
    /// A parser at line 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser that derives each device's settings line by line and keeps no lines: the
    /// devices it returns have [`Device::fields`], identity, bus numbers, driver and
    /// capability titles, but empty [`Device::header`] and capability `lines`. Their
    /// settings are the same as in full mode. For consumers of settings only (`--format
    /// fields`): it saves a `String` per input line.
    pub fn fields_only() -> Self {
        Self {
            lean: Some(Lean::default()),
            ..Self::default()
        }
    }

    /// Starts numbering lines after `line`: for a parser fed a piece of a larger input
    /// that begins at line `line + 1`.
    pub fn set_line_no(&mut self, line: usize) {
        self.line_no = line;
    }

    /// Whether lines carry `pdsh` host prefixes, once the first device header line decided it.
    pub fn pdsh(&self) -> Option<bool> {
        self.pdsh
    }

    /// Presets whether lines carry `pdsh` host prefixes (for a parser fed a piece of an
    /// input whose first piece decided it).
    pub fn set_pdsh(&mut self, pdsh: Option<bool>) {
        self.pdsh = pdsh;
    }

    /// Memo lookups and hits of fields-only mode so far (for benchmark notes).
    pub fn memo_stats(&self) -> Option<(u64, u64)> {
        self.lean.as_ref().map(|l| l.tokenizer.memo_stats())
    }

    /// Number of the last line pushed (1-based).
    pub fn line_no(&self) -> usize {
        self.line_no
    }

    /// Devices completed so far.
    pub fn devices_seen(&self) -> usize {
        self.devices
    }

    /// Takes the diagnostics gathered so far.
    pub fn take_diagnostics(&mut self) -> Vec<Diagnostic> {
        std::mem::take(&mut self.diagnostics)
    }

    /// Counts a line the caller rejected itself (too long, not text), keeping numbering right.
    pub fn skip_line(&mut self) {
        self.line_no += 1;
    }

    /// Feeds one line (without its newline). Completed devices are returned by
    /// [`TextParser::next_device`].
    pub fn push_line(&mut self, raw: &str) {
        self.line_no += 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let (host, line) = self.split_prefix(raw);
        let trimmed_end = line.trim_end();

        if trimmed_end.is_empty() {
            self.finish_host(host);
            return;
        }
        let indent = indentation(line);
        if indent == 0 {
            self.column_zero(host, trimmed_end);
        } else {
            self.indented(host, indent, trimmed_end.trim_start());
        }
    }

    /// Returns the next completed device, if any.
    pub fn next_device(&mut self) -> Option<Device> {
        self.ready.pop_front()
    }

    /// Ends the input: completes every device still being read (no host first, then hosts
    /// in name order).
    pub fn finish(&mut self) {
        self.finish_host(None);
        let mut hosts: Vec<String> = self.by_host.keys().cloned().collect();
        hosts.sort();
        for h in hosts {
            self.finish_host(Some(&h));
        }
    }

    fn building_mut(&mut self, host: Option<&str>) -> Option<&mut Building> {
        match host {
            None => self.building.as_mut(),
            Some(h) => self.by_host.get_mut(h),
        }
    }

    fn split_prefix<'a>(&mut self, raw: &'a str) -> (Option<&'a str>, &'a str) {
        match self.pdsh {
            Some(false) => (None, raw),
            Some(true) => split_host_prefix(raw),
            None => {
                self.pdsh = pdsh_decision(raw);
                match self.pdsh {
                    Some(true) => split_host_prefix(raw),
                    _ => (None, raw),
                }
            }
        }
    }

    fn diag(&mut self, kind: DiagnosticKind, text: &str) {
        self.diagnostics.push(Diagnostic {
            line: self.line_no,
            kind,
            text: text.to_string(),
        });
    }

    fn column_zero(&mut self, host: Option<&str>, text: &str) {
        if let Some((address, title)) = split_address(text) {
            if is_device_title(title) {
                self.finish_host(host);
                let dev = Device {
                    host: host.map(str::to_string),
                    address,
                    line: Some(self.line_no),
                    ..Device::default()
                };
                let lean = self.lean.as_mut().map(|l| {
                    let mut ld = l.spare.pop().unwrap_or_else(|| LeanDevice {
                        fields: Box::default(),
                        pending: Pending::None,
                        pending_text: String::new(),
                        identity: Identity::default(),
                    });
                    ld.fields.start();
                    ld.pending = Pending::None;
                    ld.identity = Identity::default();
                    ld
                });
                let b = Building {
                    dev,
                    title: title.to_string(),
                    last: Last::Title,
                    cap_open: false,
                    hex: Vec::new(),
                    hex_broken: false,
                    lean,
                };
                match host {
                    None => self.building = Some(b),
                    Some(h) => {
                        self.by_host.insert(h.to_string(), b);
                    }
                }
                return;
            }
        }
        let line_no = self.line_no;
        if let Some(b) = self.building_mut(host) {
            if let Some(row) = crate::hexdump::parse_row(text) {
                match row {
                    Ok((off, bytes)) if off == b.hex.len() && !b.hex_broken => {
                        b.hex.extend_from_slice(&bytes);
                    }
                    Ok((off, _)) => {
                        let expected = b.hex.len();
                        b.hex_broken = true;
                        self.diag(
                            DiagnosticKind::BadHexRow(format!(
                                "row at offset {off:#x}, expected {expected:#x} (a row is missing)"
                            )),
                            text,
                        );
                    }
                    Err(reason) => {
                        b.hex_broken = true;
                        self.diag(DiagnosticKind::BadHexRow(reason), text);
                    }
                }
                let _ = line_no;
                return;
            }
            // Not a device header and not a hex row, inside a device: a mail client wrapped
            // the previous line here.
            append_wrapped(b, text);
            return;
        }
        if text.starts_with("lspci: ") || text.starts_with("pcilib: ") {
            self.diag(DiagnosticKind::LspciMessage, text);
        } else if is_terminal_noise(text) {
            self.diag(DiagnosticKind::TerminalNoise, text);
        } else {
            self.diag(DiagnosticKind::Unexplained, text);
        }
    }

    fn indented(&mut self, host: Option<&str>, indent: usize, text: &str) {
        let (b, lean) = match host {
            None => (self.building.as_mut(), self.lean.as_mut()),
            Some(h) => (self.by_host.get_mut(h), self.lean.as_mut()),
        };
        let Some(b) = b else {
            self.diag(DiagnosticKind::Unexplained, text);
            return;
        };
        if let (Some(ld), Some(lean)) = (b.lean.as_mut(), lean) {
            flush_pending(ld, &b.dev, &mut lean.tokenizer);
        }
        if indent == 1 {
            if let Some(rest) = text.strip_prefix("Capabilities:") {
                let cap = cap_title(&mut self.cap_titles, rest);
                b.dev.capabilities.push(cap);
                b.cap_open = true;
                b.last = Last::CapTitle;
                if let Some(ld) = b.lean.as_mut() {
                    ld.pending = Pending::CapTitle;
                }
                return;
            }
            b.cap_open = false;
            if let Some(d) = text.strip_prefix("Kernel driver in use:") {
                b.dev.driver = Some(d.trim().to_string());
            } else if let Some(m) = text.strip_prefix("Kernel modules:") {
                b.dev.kernel_modules = m
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
            }
            b.last = Last::Header;
            match b.lean.as_mut() {
                Some(ld) => ld.hold(Pending::Header(0), text),
                None => b.dev.header.push(Line::reg(text)),
            }
            return;
        }
        if b.cap_open && !b.dev.capabilities.is_empty() {
            let depth = (indent - 2) as u8;
            b.last = Last::CapLine;
            match b.lean.as_mut() {
                Some(ld) => ld.hold(Pending::CapLine(depth), text),
                None => {
                    if let Some(cap) = b.dev.capabilities.last_mut() {
                        Arc::make_mut(cap).lines.push(Line {
                            depth,
                            text: text.to_string(),
                        });
                    }
                }
            }
            return;
        }
        let depth = (indent - 1).min(255) as u8;
        b.last = Last::Header;
        match b.lean.as_mut() {
            Some(ld) => ld.hold(Pending::Header(depth), text),
            None => b.dev.header.push(Line {
                depth,
                text: text.to_string(),
            }),
        }
    }

    fn finish_host(&mut self, host: Option<&str>) {
        let taken = match host {
            None => self.building.take(),
            Some(h) => self.by_host.remove(h),
        };
        let Some(b) = taken else {
            return;
        };
        let Building {
            mut dev,
            title,
            hex,
            hex_broken,
            lean,
            ..
        } = b;
        let t = parse_title(&title);
        dev.ids = t.ids;
        dev.names = t.names;
        let lean = match (lean, self.lean.as_mut()) {
            (Some(mut ld), Some(shared)) => {
                flush_pending(&mut ld, &dev, &mut shared.tokenizer);
                dev.fields = ld.fields.finish();
                let identity = std::mem::take(&mut ld.identity);
                shared.spare.push(ld);
                Some(identity)
            }
            _ => None,
        };
        let is_lean = lean.is_some();
        match lean {
            // Gathered from the header lines as they were read.
            Some(identity) => identity.apply(&mut dev),
            None => apply_header_identity(&mut dev),
        }
        if !hex.is_empty() && !hex_broken {
            if matches!(hex.len(), 64 | 256 | 4096) {
                dev.config = Some(hex);
            } else {
                let len = hex.len();
                self.diag(
                    DiagnosticKind::BadHexRow(format!(
                        "{} has {len} bytes of config space; lspci writes 64, 256 or 4096 (cut?)",
                        dev.address
                    )),
                    "",
                );
            }
        }
        if !is_lean {
            dev.derive_fields();
        }
        self.devices += 1;
        self.ready.push_back(dev);
    }
}

/// The capability of a title line (what follows `Capabilities:`), through the parser's cache.
fn cap_title(cache: &mut HashMap<String, Arc<Capability>, FxBuild>, rest: &str) -> Arc<Capability> {
    let rest = rest.trim();
    if let Some(cap) = cache.get(rest) {
        return Arc::clone(cap);
    }
    let cap = Arc::new(capability_header(rest));
    // A fleet has a few hundred distinct titles; garbage input could have millions, so the
    // cache starts over when it is big.
    if cache.len() >= 4096 {
        cache.clear();
    }
    cache.insert(rest.to_string(), Arc::clone(&cap));
    cap
}

/// What a line (without its newline and `\r`) decides about `pdsh` host prefixes: the
/// first line with a device address decides, `Some(true)` when the address follows a
/// `host: ` prefix. `None`: this line decides nothing.
pub fn pdsh_decision(raw: &str) -> Option<bool> {
    let (host, rest) = split_host_prefix(raw);
    if let Some(h) = host {
        if split_address(rest).is_some() && !looks_like_register(h) {
            return Some(true);
        }
    }
    split_address(raw).is_some().then_some(false)
}

/// Whether `raw` (one line without its newline) starts a new device in input without
/// `pdsh` prefixes: where such input can be cut into pieces that parse independently
/// (everything before it belongs to earlier devices).
pub fn starts_device(raw: &str) -> bool {
    let line = raw.strip_suffix('\r').unwrap_or(raw);
    let text = line.trim_end();
    !text.is_empty()
        && indentation(line) == 0
        && split_address(text).is_some_and(|(_, title)| is_device_title(title))
}

/// Whether what follows an address at column 0 makes the line a device header (and not a
/// wrapped continuation that happens to start with something address-like).
fn is_device_title(title: &str) -> bool {
    title.is_empty() || title.contains(':') || title.starts_with("Class")
}

/// `[sudo] password for ...`, `$ sudo lspci -vvv`, `# lspci -xxx`, ```` ``` ````.
fn is_terminal_noise(text: &str) -> bool {
    text.starts_with("[sudo] password for")
        || text.starts_with("```")
        || ((text.starts_with("$ ") || text.starts_with("# ")) && text.contains("lspci"))
}

/// Header names that could be mistaken for a `pdsh` host (`Control: ...` at column 0).
fn looks_like_register(host: &str) -> bool {
    matches!(
        host,
        "Control" | "Status" | "Capabilities" | "Subsystem" | "lspci" | "pcilib"
    )
}

/// Indentation level: tabs count one each, and eight spaces count one (Markdown pastes turn
/// lspci's tabs into spaces). A single space after tabs (`\t\t\t AtomicOpsCap`) adds nothing.
fn indentation(line: &str) -> usize {
    let mut level = 0;
    let mut spaces = 0;
    for c in line.chars() {
        match c {
            '\t' => {
                level += 1 + spaces / 8;
                spaces = 0;
            }
            ' ' => spaces += 1,
            _ => break,
        }
    }
    level + spaces / 8
}

fn append_wrapped(b: &mut Building, text: &str) {
    let held = b
        .lean
        .as_mut()
        .filter(|ld| matches!(ld.pending, Pending::Header(_) | Pending::CapLine(_)))
        .map(|ld| &mut ld.pending_text);
    let target: Option<&mut String> = match b.last {
        Last::Title => Some(&mut b.title),
        Last::Header | Last::CapLine if held.is_some() => held,
        Last::Header => b.dev.header.last_mut().map(|l| &mut l.text),
        // Copied first if the parser's title cache shares it: the cache keeps the title
        // as printed.
        Last::CapTitle => b
            .dev
            .capabilities
            .last_mut()
            .map(|c| &mut Arc::make_mut(c).title),
        Last::CapLine => b
            .dev
            .capabilities
            .last_mut()
            .and_then(|c| Arc::make_mut(c).lines.last_mut())
            .map(|l| &mut l.text),
    };
    if let Some(t) = target {
        let t_trim = t.trim_end().len();
        t.truncate(t_trim);
        t.push(' ');
        t.push_str(text);
    }
}

/// Parses `[90] Express (v2) ...`, `[100 v1] Advanced Error Reporting`, `<access denied>`.
fn capability_header(rest: &str) -> Capability {
    let unknown = |title: &str| Capability {
        space: CapabilitySpace::Standard,
        offset: 0,
        id: None,
        version: None,
        tag: "Capabilities".into(),
        title: title.to_string(),
        lines: Vec::new(),
    };
    let Some(inner_end) = rest.find(']').filter(|_| rest.starts_with('[')) else {
        return unknown(rest);
    };
    let inner = &rest[1..inner_end];
    let title = rest[inner_end + 1..].trim().to_string();
    let (off, version) = match inner.split_once(" v") {
        Some((o, v)) => (o, v.trim().parse::<u8>().ok()),
        None => (inner, None),
    };
    let Ok(offset) = u16::from_str_radix(off.trim(), 16) else {
        return unknown(rest);
    };
    let extended = version.is_some() || offset >= 0x100;
    let (space, id, tag) = if extended {
        let hit = caps::extended_from_title(&title).map(|(id, tag)| (id, tag.to_string()));
        let (id, tag) = match hit {
            Some((id, tag)) => (Some(id), tag),
            None => match title
                .strip_prefix('#')
                .and_then(|h| u16::from_str_radix(h.trim(), 16).ok())
            {
                Some(id) => (Some(id), caps::extended_tag(id)),
                None => (None, "ExtCapUnknown".to_string()),
            },
        };
        (CapabilitySpace::Extended, id, tag)
    } else {
        let hit =
            caps::standard_from_title(&title).map(|(id, tag)| (u16::from(id), tag.to_string()));
        let (id, tag) = match hit {
            Some((id, tag)) => (Some(id), tag),
            None => {
                let hex = title.strip_prefix('#').and_then(|h| h.get(..2));
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(id) => (Some(u16::from(id)), caps::standard_tag(id)),
                    None => (None, "CapUnknown".to_string()),
                }
            }
        };
        (CapabilitySpace::Standard, id, tag)
    };
    let version = version.or_else(|| {
        // `Express (v2)`, `Power Management version 3`.
        if tag == "Express" {
            title
                .split_once("(v")
                .and_then(|(_, r)| r.split_once(')'))
                .and_then(|(v, _)| v.parse().ok())
        } else if tag == "PM" {
            title
                .rsplit_once("version ")
                .and_then(|(_, v)| v.trim().parse().ok())
        } else {
            None
        }
    });
    Capability {
        space,
        offset,
        id,
        version,
        tag,
        title,
        lines: Vec::new(),
    }
}

/// Fills ids and bus numbers that header lines carry (`Subsystem: ... [1590:00d3]`, `Bus:`).
fn apply_header_identity(dev: &mut Device) {
    let mut identity = Identity::default();
    for line in dev.header.iter().filter(|l| l.depth == 0) {
        identity.line(&line.text);
    }
    identity.apply(dev);
}

/// Identity read from a device's header lines, last line winning.
#[derive(Debug, Default)]
struct Identity {
    /// `Subsystem:` name, and ids from the last `Subsystem:` line that had them.
    subsystem: Option<String>,
    subsystem_ids: Option<(Option<u16>, Option<u16>)>,
    bus: Option<BusNumbers>,
    has_control: bool,
}

impl Identity {
    /// Takes one register line (depth 0) of the header.
    fn line(&mut self, text: &str) {
        if let Some(s) = text.strip_prefix("Subsystem:") {
            let (name, id) = split_bracket_id(s);
            self.subsystem = Some(name.to_string());
            if let Some((v, d)) = id.and_then(|i| i.split_once(':')) {
                self.subsystem_ids = Some((
                    u16::from_str_radix(v, 16).ok(),
                    u16::from_str_radix(d, 16).ok(),
                ));
            }
        } else if let Some(s) = text.strip_prefix("Bus:") {
            let get = |k: &str| {
                s.split(',')
                    .filter_map(|p| p.trim().split_once('='))
                    .find(|(key, _)| *key == k)
                    .and_then(|(_, v)| u8::from_str_radix(v.trim(), 16).ok())
            };
            if let (Some(p), Some(sec), Some(sub)) =
                (get("primary"), get("secondary"), get("subordinate"))
            {
                self.bus = Some(BusNumbers {
                    primary: p,
                    secondary: sec,
                    subordinate: sub,
                });
            }
        } else if text.starts_with("Control:") {
            self.has_control = true;
        }
    }

    /// Writes it into `dev` (after the title's identity).
    fn apply(self, dev: &mut Device) {
        if self.subsystem.is_some() {
            dev.names.subsystem = self.subsystem;
        }
        if let Some((v, d)) = self.subsystem_ids {
            dev.ids.subsystem_vendor = v;
            dev.ids.subsystem_device = d;
        }
        if self.bus.is_some() {
            dev.bus = self.bus;
        }
        dev.header_type = if dev.bus.is_some() {
            Some(1)
        } else if self.has_control {
            Some(0)
        } else {
            None
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<Device>, Vec<Diagnostic>) {
        let mut p = TextParser::new();
        let mut out = Vec::new();
        for l in text.lines() {
            p.push_line(l);
            while let Some(d) = p.next_device() {
                out.push(d);
            }
        }
        p.finish();
        while let Some(d) = p.next_device() {
            out.push(d);
        }
        (out, p.take_diagnostics())
    }

    #[test]
    fn indentation_levels() {
        assert_eq!(indentation("\tControl"), 1);
        assert_eq!(indentation("\t\t\t AtomicOpsCap"), 3);
        assert_eq!(indentation("        Control"), 1);
        assert_eq!(indentation("                         AtomicOpsCap"), 3);
    }

    #[test]
    fn interleaved_pdsh_hosts_are_demultiplexed() {
        let text = "a1: 00:01.0 PCI bridge: X\n\
                    b2: 00:01.0 PCI bridge: X\n\
                    a1: \tControl: I/O+ Mem+\n\
                    b2: \tControl: I/O- Mem+\n\
                    a1: \n\
                    b2: \n";
        let (devs, diags) = parse(text);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(devs.len(), 2);
        let a = devs
            .iter()
            .find(|d| d.host.as_deref() == Some("a1"))
            .unwrap();
        let b = devs
            .iter()
            .find(|d| d.host.as_deref() == Some("b2"))
            .unwrap();
        assert_eq!(a.field("Control.I/O"), Some("+"));
        assert_eq!(b.field("Control.I/O"), Some("-"));
    }

    #[test]
    fn wrapped_lines_are_rejoined() {
        let text = "0b:00.0 Ethernet controller: Mellanox\n\
                    \tControl: I/O- Mem+ BusMaster+\n\
                    SERR+ FastB2B- DisINTx+\n";
        let (devs, diags) = parse(text);
        assert!(diags.is_empty());
        assert_eq!(devs[0].field("Control.DisINTx"), Some("+"));
    }

    #[test]
    fn capabilities_open_and_close() {
        let text = "00:02.0 PCI bridge [0604]: Intel Corporation Device [8086:2f04] (rev 02)\n\
                    \tBus: primary=00, secondary=03, subordinate=05, sec-latency=0\n\
                    \tCapabilities: [100 v1] Access Control Services\n\
                    \t\tACSCap:\tSrcValid+ TransBlk+\n\
                    \t\tACSCtl:\tSrcValid+ TransBlk-\n\
                    \tCapabilities: <access denied>\n\
                    \tKernel driver in use: pcieport\n";
        let (devs, _) = parse(text);
        let d = &devs[0];
        assert_eq!(d.ids.vendor, Some(0x8086));
        assert_eq!(d.ids.class, Some(0x0604));
        assert_eq!(d.bus.map(|b| b.subordinate), Some(5));
        assert_eq!(d.capabilities[0].tag, "ACS");
        assert_eq!(d.capabilities[0].version, Some(1));
        assert_eq!(d.field("ACSCtl.TransBlk"), Some("-"));
        assert_eq!(d.field("Capabilities"), Some("<access denied>"));
        assert_eq!(d.driver.as_deref(), Some("pcieport"));
    }
}
