//! lspci `-vvv` text templates: per node, a handful of template LINES are rewritten and
//! everything between them is copied as one slice, so writing a node runs at memcpy speed.
//!
//! A missing GPU is the exception: that node's text is rendered first and then passed
//! through [`renumber`], which drops the GPU's blocks and renumbers every later bus.

use std::collections::BTreeMap;
use std::io::{self, Write};

use trainyard_pci::text::header_line::split_address;
use trainyard_pci::text::parse_str;
use trainyard_pci::{Device, Role, Topology};

use super::faults::{byte_count, lowered_mrrs, width_lanes, FaultKind, Targets};
use super::variation::{self, NaturalKind, Rng};
use super::{acs_fault_value, KeyEdit, NodePlan};

/// A parsed text template with each device's block of lines located.
pub(crate) struct TextTemplate {
    text: String,
    /// Byte range of each line, without its newline.
    lines: Vec<(usize, usize)>,
    /// Line range `[start, end)` of each device's block.
    blocks: Vec<(usize, usize)>,
    pub devices: Vec<Device>,
    pub topology: Topology,
    /// Lines each fault rewrites, with their faulty content.
    fault_lines: BTreeMap<FaultKind, Vec<(usize, String)>>,
    /// Lines varied on every node.
    varying: Vec<Varying>,
}

#[derive(Debug, Clone, Copy)]
enum VaryKind {
    /// `Capabilities: [100 v1] Device Serial Number ...`
    Dsn,
    /// `[SN] Serial number: ...`
    VpdSerial,
    /// `Interrupt: pin A routed to IRQ 162`
    Irq,
    /// `Region 0: Memory at ... [size=16K]`
    Bar,
}

#[derive(Debug, Clone)]
struct Varying {
    line: usize,
    device: usize,
    kind: VaryKind,
    key: String,
}

impl TextTemplate {
    pub(crate) fn new(text: &str) -> Result<Self, String> {
        let parsed = parse_str(text);
        if parsed.devices.is_empty() {
            return Err("no PCI devices found (expected lspci -vvv text or a snapshot)".into());
        }
        if parsed.devices.iter().any(|d| d.host.is_some()) {
            return Err("the template has pdsh host prefixes: give one server's lspci text".into());
        }
        let mut lines = Vec::new();
        let mut start = 0;
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                lines.push((start, i));
                start = i + 1;
            }
        }
        if start < text.len() {
            lines.push((start, text.len()));
        }
        let mut heads = Vec::with_capacity(parsed.devices.len());
        for d in &parsed.devices {
            let line = d
                .line
                .and_then(|l| l.checked_sub(1))
                .ok_or_else(|| format!("device {} has no line number", d.address))?;
            heads.push(line);
        }
        let blocks = heads
            .iter()
            .enumerate()
            .map(|(i, &h)| (h, heads.get(i + 1).copied().unwrap_or(lines.len())))
            .collect();
        let topology = Topology::build(&parsed.devices);
        let mut t = Self {
            text: text.to_string(),
            lines,
            blocks,
            devices: parsed.devices,
            topology,
            fault_lines: BTreeMap::new(),
            varying: Vec::new(),
        };
        t.find_varying();
        Ok(t)
    }

    fn line(&self, i: usize) -> &str {
        let (a, b) = self.lines[i];
        &self.text[a..b]
    }

    /// First line of device `dev`'s block whose trimmed text starts with `prefix`.
    fn find(&self, dev: usize, prefix: &str) -> Option<usize> {
        let (a, b) = self.blocks[dev];
        (a..b).find(|&l| self.line(l).trim_start().starts_with(prefix))
    }

    /// First line at or after `from` in the block that contains `needle`, within `span` lines.
    fn find_near(&self, dev: usize, from: usize, span: usize, needle: &str) -> Option<usize> {
        let (_, b) = self.blocks[dev];
        (from..b.min(from + span)).find(|&l| self.line(l).contains(needle))
    }

    fn find_varying(&mut self) {
        let mut out = Vec::new();
        for dev in 0..self.devices.len() {
            let (a, b) = self.blocks[dev];
            let role = self.devices[dev].role();
            // BARs of storage and other plain endpoints move with firmware versions and
            // hot-plugged neighbours; GPU, NIC and bridge windows stay put on identical nodes.
            let bars_vary =
                matches!(role, Role::Storage | Role::Other) && self.devices[dev].bus.is_none();
            for l in a..b {
                let s = self.line(l).trim_start();
                if s.starts_with("Capabilities: [") && s.contains("] Device Serial Number ") {
                    out.push(Varying {
                        line: l,
                        device: dev,
                        kind: VaryKind::Dsn,
                        key: "DSN".into(),
                    });
                } else if s.starts_with("[SN] Serial number: ") {
                    out.push(Varying {
                        line: l,
                        device: dev,
                        kind: VaryKind::VpdSerial,
                        key: "VPD.Read-only fields.[SN] Serial number".into(),
                    });
                } else if s.starts_with("Interrupt: pin ")
                    && irq_of(s).is_some_and(|n| n > 0 && n < 255)
                {
                    out.push(Varying {
                        line: l,
                        device: dev,
                        kind: VaryKind::Irq,
                        key: "Interrupt".into(),
                    });
                } else if bars_vary
                    && s.starts_with("Region ")
                    && s.contains(": Memory at ")
                    && bar_of(s).is_some()
                {
                    let key = s.split(':').next().unwrap_or("Region").to_string();
                    out.push(Varying {
                        line: l,
                        device: dev,
                        kind: VaryKind::Bar,
                        key,
                    });
                }
            }
        }
        self.varying = out;
    }

    /// Every-node variation for the truth: (kind, device, key), one per device and key.
    pub(crate) fn every_node_variation(&self) -> Vec<(NaturalKind, usize, String)> {
        let mut out: Vec<(NaturalKind, usize, String)> = Vec::new();
        for v in &self.varying {
            let kind = match v.kind {
                VaryKind::Dsn | VaryKind::VpdSerial => NaturalKind::Serial,
                VaryKind::Irq => NaturalKind::Irq,
                VaryKind::Bar => NaturalKind::Bar,
            };
            let e = (kind, v.device, v.key.clone());
            if !out.contains(&e) {
                out.push(e);
            }
        }
        out
    }

    /// The keys a fault changes (the lines themselves are cached by [`TextTemplate::prepare`]).
    pub(crate) fn fault_keys(&self, kind: FaultKind, t: &Targets) -> Vec<KeyEdit> {
        self.fault_edits(kind, t).0
    }

    /// Caches every kind's faulty lines (called once, after planning).
    pub(crate) fn prepare(&mut self, t: &Targets) {
        for kind in FaultKind::ALL {
            let (_, lines) = self.fault_edits(kind, t);
            self.fault_lines.insert(kind, lines);
        }
    }

    fn fault_edits(&self, kind: FaultKind, t: &Targets) -> (Vec<KeyEdit>, Vec<(usize, String)>) {
        let mut keys = Vec::new();
        let mut lines = Vec::new();
        match kind {
            FaultKind::Acs => {
                for &p in &t.acs {
                    let d = &self.devices[p];
                    let Some(l) = self.find(p, "ACSCtl:") else {
                        continue;
                    };
                    let new = acs_fault_value(d.field("ACSCtl.ReqRedir").unwrap_or("-"));
                    let mut s = self.line(l).to_string();
                    for flag in ["ReqRedir", "CmpltRedir"] {
                        let old = d.field(&format!("ACSCtl.{flag}")).unwrap_or("-");
                        if old != new {
                            s = set_flag(&s, flag, new);
                            keys.push(KeyEdit::new(p, &format!("ACSCtl.{flag}"), new, old));
                        }
                    }
                    lines.push((l, s));
                }
            }
            FaultKind::Downtrain => {
                if let Some(g) = t.downtrain {
                    let d = &self.devices[g];
                    let old = d.field("LnkSta.Width").unwrap_or("");
                    if let (Some(l), Some(w)) = (self.find(g, "LnkSta:"), width_lanes(old)) {
                        let new = (w / 2).max(1);
                        lines.push((l, set_width(self.line(l), new)));
                        keys.push(KeyEdit::new(g, "LnkSta.Width", format!("x{new}"), old));
                    }
                }
            }
            FaultKind::Mrrs => {
                if let Some(n) = t.mrrs {
                    let d = &self.devices[n];
                    let old = d.field("DevCtl.MaxReadReq").unwrap_or("");
                    let new = byte_count(old).and_then(lowered_mrrs);
                    let line = self
                        .find(n, "DevCtl:")
                        .and_then(|l| self.find_near(n, l, 3, "MaxReadReq "));
                    if let (Some(l), Some(new)) = (line, new) {
                        lines.push((l, set_mrrs(self.line(l), new)));
                        keys.push(KeyEdit::new(
                            n,
                            "DevCtl.MaxReadReq",
                            format!("{new} bytes"),
                            old,
                        ));
                    }
                }
            }
            FaultKind::RelaxedOrdering => {
                if let Some(n) = t.relaxed_ordering {
                    let line = self
                        .find(n, "DevCtl:")
                        .and_then(|l| self.find_near(n, l, 3, "RlxdOrd+"));
                    if let Some(l) = line {
                        lines.push((l, set_flag(self.line(l), "RlxdOrd", "-")));
                        keys.push(KeyEdit::new(n, "DevCtl.RlxdOrd", "-", "+"));
                    }
                }
            }
            FaultKind::Aer => {
                if let Some(a) = t.aer {
                    if let Some(l) = self.find(a, "CESta:") {
                        lines.push((l, set_flag(self.line(l), "BadTLP", "+")));
                        keys.push(KeyEdit::new(a, "CESta.BadTLP", "+", "-"));
                    }
                    if let Some(l) = self.find(a, "DevSta:") {
                        lines.push((l, set_flag(self.line(l), "CorrErr", "+")));
                        keys.push(KeyEdit::new(a, "DevSta.CorrErr", "+", "-"));
                    }
                }
            }
            FaultKind::Missing => {
                if let Some(g) = t.missing {
                    for f in super::functions_on_bus_of(&self.devices, g) {
                        keys.push(KeyEdit::new(f, "missing", "absent", "present"));
                    }
                }
            }
            FaultKind::Bios => {}
        }
        (keys, lines)
    }

    /// Writes one node.
    pub(crate) fn write(
        &self,
        plan: &NodePlan,
        targets: &Targets,
        seed: u64,
        w: &mut dyn Write,
    ) -> io::Result<()> {
        let mut edits: BTreeMap<usize, String> = BTreeMap::new();
        for kind in &plan.faults {
            if let Some(lines) = self.fault_lines.get(kind) {
                for (l, s) in lines {
                    edits.insert(*l, s.clone());
                }
            }
        }
        let mut irq_rng = Rng::for_node(seed, plan.index, 4);
        for v in &self.varying {
            let cur = edits
                .get(&v.line)
                .map_or_else(|| self.line(v.line), String::as_str);
            let new = match v.kind {
                VaryKind::Dsn => {
                    let a = self.devices[v.device].address;
                    // Functions of one card share its serial, as real ones do.
                    let mut r = Rng::for_node(seed, plan.index, card_stream(a, 1));
                    let head = cur.split("Device Serial Number").next().unwrap_or("");
                    format!(
                        "{head}Device Serial Number {}",
                        variation::dsn_text(&variation::dsn(&mut r))
                    )
                }
                VaryKind::VpdSerial => {
                    let a = self.devices[v.device].address;
                    let mut r = Rng::for_node(seed, plan.index, card_stream(a, 2));
                    let head = cur.split("Serial number:").next().unwrap_or("");
                    format!("{head}Serial number: {}", variation::vpd_serial(&mut r))
                }
                VaryKind::Irq => {
                    let n = irq_of(cur).unwrap_or(0);
                    let head = cur.rsplit_once("IRQ ").map_or(cur, |(h, _)| h);
                    format!("{head}IRQ {}", n + irq_rng.below(24) as u32)
                }
                VaryKind::Bar => {
                    let a = self.devices[v.device].address;
                    let mut r = Rng::for_node(seed, plan.index, card_stream(a, 3) ^ v.line as u64);
                    shift_bar(cur, r.below(16))
                }
            };
            edits.insert(v.line, new);
        }
        for &g in &plan.idle_gpus {
            if let Some(l) = self.find(g, "LnkSta:") {
                let cur = edits.get(&l).map_or_else(|| self.line(l), String::as_str);
                let new = set_speed(cur, "2.5GT/s");
                edits.insert(l, new);
            }
        }
        match targets.missing.filter(|_| plan.has(FaultKind::Missing)) {
            Some(g) => {
                let mut buf = Vec::with_capacity(self.text.len());
                self.emit(&edits, &mut buf)?;
                let text = String::from_utf8_lossy(&buf);
                let a = self.devices[g].address;
                w.write_all(renumber(&text, a.domain, a.bus).as_bytes())
            }
            None => self.emit(&edits, w),
        }
    }

    /// The template with `edits` (line → new content) applied.
    fn emit(&self, edits: &BTreeMap<usize, String>, w: &mut dyn Write) -> io::Result<()> {
        let mut pos = 0;
        for (&l, s) in edits {
            let (a, b) = self.lines[l];
            w.write_all(&self.text.as_bytes()[pos..a])?;
            w.write_all(s.as_bytes())?;
            pos = b;
        }
        w.write_all(&self.text.as_bytes()[pos..])
    }
}

/// A per-card RNG stream id.
fn card_stream(a: trainyard_pci::PciAddress, what: u64) -> u64 {
    (what << 48) | (u64::from(a.domain) << 16) | (u64::from(a.bus) << 8) | u64::from(a.device)
}

fn irq_of(s: &str) -> Option<u32> {
    s.rsplit_once("IRQ ")?.1.trim().parse().ok()
}

/// `(address, size)` of a `Region N: Memory at ADDR (...) [size=16K]` line.
fn bar_of(s: &str) -> Option<(u64, u64)> {
    let addr = s.split("Memory at ").nth(1)?.split(' ').next()?;
    let addr = u64::from_str_radix(addr, 16).ok()?;
    let size = s.split("[size=").nth(1)?.split(']').next()?;
    let (num, unit) = size.split_at(size.find(|c: char| !c.is_ascii_digit())?);
    let mult: u64 = match unit {
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return None,
    };
    Some((addr, num.parse::<u64>().ok()? * mult))
}

/// Moves a BAR by `k` times its size (keeping its alignment), printed with the same width.
fn shift_bar(s: &str, k: u64) -> String {
    let Some((addr, size)) = bar_of(s) else {
        return s.to_string();
    };
    let Some((head, rest)) = s.split_once("Memory at ") else {
        return s.to_string();
    };
    let old = rest.split(' ').next().unwrap_or("");
    let tail = &rest[old.len()..];
    let new = addr.wrapping_add(k.wrapping_mul(size));
    format!("{head}Memory at {new:0width$x}{tail}", width = old.len())
}

/// Sets `name+`/`name-` in a flag list (the token must start at a word boundary).
pub(crate) fn set_flag(line: &str, name: &str, value: &str) -> String {
    let bytes = line.as_bytes();
    let mut from = 0;
    while let Some(off) = line[from..].find(name) {
        let at = from + off;
        let end = at + name.len();
        let boundary = at == 0 || matches!(bytes[at - 1], b' ' | b'\t' | b':');
        if boundary && matches!(bytes.get(end), Some(b'+' | b'-')) {
            return format!("{}{}{}", &line[..end], value, &line[end + 1..]);
        }
        from = end;
    }
    line.to_string()
}

/// Replaces a `Width xN[ (downgraded)]` with `Width xW (downgraded)`.
fn set_width(line: &str, lanes: u32) -> String {
    replace_link_value(line, "Width ", &format!("x{lanes} (downgraded)"))
}

/// Replaces a `Speed S[ (downgraded)]` with `Speed S (downgraded)`.
fn set_speed(line: &str, speed: &str) -> String {
    replace_link_value(line, "Speed ", &format!("{speed} (downgraded)"))
}

fn replace_link_value(line: &str, label: &str, new: &str) -> String {
    let Some(at) = line.find(label) else {
        return line.to_string();
    };
    let start = at + label.len();
    let rest = &line[start..];
    let mut end = rest.find([',', ' ']).unwrap_or(rest.len());
    // Drop the old annotation, `(downgraded)` or the `(ok)` some lspci versions print.
    if rest[end..].starts_with(" (") {
        if let Some(close) = rest[end..].find(')') {
            end += close + 1;
        }
    }
    format!("{}{}{}", &line[..start], new, &rest[end..])
}

/// Replaces `MaxReadReq N bytes`.
fn set_mrrs(line: &str, bytes: u32) -> String {
    let Some(at) = line.find("MaxReadReq ") else {
        return line.to_string();
    };
    let start = at + "MaxReadReq ".len();
    let rest = &line[start..];
    let end = rest.find(' ').unwrap_or(rest.len());
    format!("{}{}{}", &line[..start], bytes, &rest[end..])
}

/// Drops every function on bus `gone` of `domain` and renumbers the buses after it, as
/// firmware that assigns buses only to populated ports does: device addresses and bridges'
/// primary/secondary/subordinate above `gone` move down by one, ranges that held `gone`
/// shrink by one, and the emptied port is left unconfigured (`secondary=00,
/// subordinate=00`, as lspci shows a bridge firmware gave no bus).
pub(crate) fn renumber(text: &str, domain: u32, gone: u8) -> String {
    let mut out = String::with_capacity(text.len());
    let mut skipping = false;
    let mut cur_domain = 0u32;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let newline = &line[body.len()..];
        let is_head = !body.is_empty() && !body.starts_with([' ', '\t']);
        if is_head {
            if let Some((a, _)) = split_address(body) {
                cur_domain = a.domain;
                skipping = a.domain == domain && a.bus == gone;
                if skipping {
                    continue;
                }
                let end = body.find([' ', '\t']).unwrap_or(body.len());
                let token = &body[..end];
                out.push_str(&renumber_token(token, domain, gone));
                out.push_str(&body[end..]);
                out.push_str(newline);
                continue;
            }
        }
        if skipping {
            continue;
        }
        if cur_domain == domain && body.trim_start().starts_with("Bus: primary=") {
            out.push_str(&renumber_bus_line(body, gone));
            out.push_str(newline);
            continue;
        }
        out.push_str(line);
    }
    out
}

/// `17:00.0`, `0000:17:00.0` or a `-PP` path, with every bus above `gone` moved down.
fn renumber_token(token: &str, domain: u32, gone: u8) -> String {
    token
        .split('/')
        .map(|el| {
            let Some((a, _)) = split_address(el) else {
                return el.to_string();
            };
            let with_domain = el.matches(':').count() == 2;
            if (with_domain && a.domain != domain) || a.bus <= gone {
                return el.to_string();
            }
            let bus = a.bus - 1;
            if with_domain {
                let d = el.split(':').next().unwrap_or("0000");
                format!("{d}:{bus:02x}:{:02x}.{:x}", a.device, a.function)
            } else {
                format!("{bus:02x}:{:02x}.{:x}", a.device, a.function)
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn renumber_bus_line(body: &str, gone: u8) -> String {
    let num = |key: &str| -> Option<u8> {
        let v = body.split(key).nth(1)?.split(',').next()?;
        u8::from_str_radix(v.trim(), 16).ok()
    };
    let (Some(p), Some(s), Some(sub)) = (num("primary="), num("secondary="), num("subordinate="))
    else {
        return body.to_string();
    };
    let (p2, s2, sub2) = if s == gone && sub == gone {
        (if p > gone { p - 1 } else { p }, 0, 0)
    } else {
        (
            if p > gone { p - 1 } else { p },
            if s > gone { s - 1 } else { s },
            if sub >= gone && sub > 0 && s <= sub {
                sub - 1
            } else {
                sub
            },
        )
    };
    let indent = &body[..body.len() - body.trim_start().len()];
    let tail = body
        .split("subordinate=")
        .nth(1)
        .and_then(|r| r.find(',').map(|i| &r[i..]))
        .unwrap_or("");
    format!("{indent}Bus: primary={p2:02x}, secondary={s2:02x}, subordinate={sub2:02x}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_edits() {
        assert_eq!(
            set_flag(
                "ACSCtl:\tSrcValid+ TransBlk- ReqRedir- CmpltRedir- UpstreamFwd+",
                "ReqRedir",
                "+"
            ),
            "ACSCtl:\tSrcValid+ TransBlk- ReqRedir+ CmpltRedir- UpstreamFwd+"
        );
        assert_eq!(
            set_width("\t\tLnkSta:\tSpeed 32GT/s, Width x16", 8),
            "\t\tLnkSta:\tSpeed 32GT/s, Width x8 (downgraded)"
        );
        assert_eq!(
            set_speed(
                "\t\tLnkSta:\tSpeed 32GT/s, Width x8 (downgraded)",
                "2.5GT/s"
            ),
            "\t\tLnkSta:\tSpeed 2.5GT/s (downgraded), Width x8 (downgraded)"
        );
        assert_eq!(
            set_speed("LnkSta:\tSpeed 8GT/s (downgraded), Width x16", "2.5GT/s"),
            "LnkSta:\tSpeed 2.5GT/s (downgraded), Width x16"
        );
        assert_eq!(
            set_width("LnkSta:\tSpeed 8GT/s (ok), Width x16 (ok)", 8),
            "LnkSta:\tSpeed 8GT/s (ok), Width x8 (downgraded)"
        );
        assert_eq!(
            set_mrrs("\t\t\tMaxPayload 256 bytes, MaxReadReq 512 bytes", 128),
            "\t\t\tMaxPayload 256 bytes, MaxReadReq 128 bytes"
        );
        assert_eq!(
            shift_bar(
                "\tRegion 0: Memory at f4400000 (64-bit, non-prefetchable) [size=16K]",
                2
            ),
            "\tRegion 0: Memory at f4408000 (64-bit, non-prefetchable) [size=16K]"
        );
    }

    #[test]
    fn renumbers_after_the_gone_bus() {
        let text = "00:01.1 PCI bridge: X\n\tBus: primary=00, secondary=01, subordinate=04, sec-latency=0\n\n\
            01:00.0 PCI bridge: X\n\tBus: primary=01, secondary=02, subordinate=04, sec-latency=0\n\n\
            02:00.0 PCI bridge: X\n\tBus: primary=02, secondary=03, subordinate=03, sec-latency=0\n\n\
            02:01.0 PCI bridge: X\n\tBus: primary=02, secondary=04, subordinate=04, sec-latency=0\n\n\
            03:00.0 3D controller: GPU\n\tControl: I/O-\n\n\
            04:00.0 Ethernet controller: NIC\n\tControl: I/O-\n\n\
            0001:05:00.0 Ethernet controller: other domain\n";
        let out = renumber(text, 0, 3);
        assert!(!out.contains("3D controller"));
        assert!(
            out.contains("00:01.1 PCI bridge: X\n\tBus: primary=00, secondary=01, subordinate=03,")
        );
        assert!(
            out.contains("02:00.0 PCI bridge: X\n\tBus: primary=02, secondary=00, subordinate=00,")
        );
        assert!(
            out.contains("02:01.0 PCI bridge: X\n\tBus: primary=02, secondary=03, subordinate=03,")
        );
        assert!(out.contains("\n03:00.0 Ethernet controller: NIC\n"));
        assert!(out.contains("0001:05:00.0 Ethernet"));
    }
}
