//! Reading one group of a device's lines on its own: what a fleet needs to derive a device
//! from another node's device that printed the same block but for a line or two.
//!
//! The tokenizer reads a block's lines in groups whose settings depend on nothing outside
//! them: a header register with its continuation lines, or a capability title followed by
//! registers of that capability (each with its continuations). [`TextParser::read_group`]
//! derives the settings of such a group with the parser's own tokenizer, line memo and
//! capability-title cache, without building a device: comparing the settings of a group
//! before and after a change tells which values changed, at the cost of the group's lines.

use std::sync::Arc;

use super::{cap_title, indentation, TextParser};
use crate::device::{Capability, Fields};

/// The settings of one group of lines (see [`TextParser::read_group`]).
#[derive(Debug)]
pub struct GroupSettings {
    /// The settings, in the order a whole device would list them.
    pub fields: Fields,
    /// The capability the group's title line opens, for a capability group.
    pub capability: Option<Arc<Capability>>,
}

/// Header registers that say more than settings (the device's identity, bus numbers,
/// driver): a group starting with one is not read on its own.
const IDENTITY_REGISTERS: [&str; 4] = [
    "Subsystem:",
    "Bus:",
    "Kernel driver in use:",
    "Kernel modules:",
];

impl TextParser {
    /// The settings of one group of lines of a device block, read on their own, or `None`
    /// when the lines are not such a group or the parser is not in fields-only mode.
    ///
    /// `lines` (without newlines) is either a header register (one tab) with its
    /// continuation lines (two tabs or more), or a capability title (`\tCapabilities: ...`)
    /// with any of that capability's lines after it, each register (two tabs) with its
    /// continuations. Their settings are the same as the same lines give inside a whole
    /// device, with keys numbered (`#2`) within the group only. Headers that carry identity
    /// (`Subsystem:`, `Bus:`, `Kernel driver in use:`, `Kernel modules:`) and blank lines
    /// give `None`. Line numbers and the device being read are not touched.
    pub fn read_group(&mut self, lines: &[&str]) -> Option<GroupSettings> {
        let lean = self.lean.as_mut()?;
        let mut lines = lines.iter().map(|l| l.strip_suffix('\r').unwrap_or(l));
        let first = lines.next()?;
        if indentation(first) != 1 {
            return None;
        }
        let first = first.trim();
        let builder = &mut lean.group;
        let tk = &mut lean.tokenizer;
        builder.start();
        let mut capability = None;
        match first.strip_prefix("Capabilities:") {
            Some(rest) => {
                let cap = cap_title(&mut self.cap_titles, rest);
                builder.capability(tk, &cap);
                capability = Some(cap);
            }
            None => {
                if IDENTITY_REGISTERS.iter().any(|r| first.starts_with(r)) {
                    return None;
                }
                builder.header_line(tk, 0, first);
            }
        }
        for line in lines {
            let indent = indentation(line);
            let text = line.trim();
            if indent < 2 || text.is_empty() {
                builder.finish();
                return None;
            }
            let depth = (indent - 2).min(255) as u8;
            if capability.is_some() {
                builder.cap_line(tk, depth, text);
            } else {
                builder.header_line(tk, depth + 1, text);
            }
        }
        Some(GroupSettings {
            fields: builder.finish(),
            capability,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::parse_str;

    fn settings(f: &Fields) -> Vec<(String, String)> {
        f.iter()
            .map(|x| (x.key.to_string(), x.value.to_string()))
            .collect()
    }

    #[test]
    fn a_group_gives_the_settings_it_gives_inside_the_device() {
        let block = concat!(
            "00:01.1 PCI bridge: Advanced Micro Devices, Inc. [AMD] Device 14ab\n",
            "\tControl: I/O+ Mem+ BusMaster+\n",
            "\tInterrupt: pin ? routed to IRQ 39\n",
            "\tCapabilities: [58] Express (v2) Root Port (Slot+), MSI 00\n",
            "\t\tDevCap:\tMaxPayload 512 bytes, PhantFunc 0\n",
            "\t\t\tExtTag+ RBE+\n",
            "\t\tLnkSta:\tSpeed 16GT/s, Width x16\n",
            "\t\t\tTrErr- Train- SlotClk+ DLActive+ BWMgmt- ABWMgmt-\n",
            "\tCapabilities: [100 v1] Device Serial Number 01-02-03-04-05-06-07-08\n",
        );
        let whole = parse_str(block).devices.remove(0).fields;
        let all = settings(&whole);
        let lines: Vec<&str> = block.lines().collect();
        let mut p = TextParser::fields_only();
        let group = |p: &mut TextParser, idx: &[usize]| {
            let g: Vec<&str> = idx.iter().map(|&i| lines[i]).collect();
            p.read_group(&g).expect("a group")
        };
        // Each group's settings appear in the whole device, in the same order.
        let mut seen = Vec::new();
        for idx in [&[1][..], &[2], &[3, 4, 5, 6, 7], &[8]] {
            let g = group(&mut p, idx);
            seen.extend(settings(&g.fields));
            assert_eq!(g.capability.is_some(), idx[0] >= 3);
        }
        assert_eq!(seen, all);
        // A register read after its capability's title alone.
        let lnk = settings(&group(&mut p, &[3, 6, 7]).fields);
        assert!(lnk.contains(&("LnkSta.Speed".into(), "16GT/s".into())));
        assert!(lnk.contains(&("LnkSta.DLActive".into(), "+".into())));
    }

    #[test]
    fn identity_lines_and_non_groups_are_refused() {
        let mut p = TextParser::fields_only();
        for bad in [
            &["\tSubsystem: Dell Device [1028:0000]"][..],
            &["\tBus: primary=00, secondary=01, subordinate=01, sec-latency=0"],
            &["\tKernel driver in use: nvidia"],
            &["\t\tDevCap: MaxPayload 256 bytes"],
            &["\tControl: I/O+", "\tStatus: Cap+"],
            &["\tControl: I/O+", ""],
            &[],
        ] {
            assert!(p.read_group(bad).is_none(), "{bad:?}");
        }
        assert!(TextParser::new().read_group(&["\tControl: I/O+"]).is_none());
    }
}
