//! The pieces of a device's first line: `[host: ][DOMAIN:]BUS:DEV.FN CLASS: NAME (rev RR)`.

use crate::address::PciAddress;
use crate::device::{DeviceIds, DeviceNames};

/// Splits a `pdsh`/`clush` prefix (`node017: `) off a line.
///
/// Only a first token that looks like a host name qualifies: letters, digits, `.`, `-`, `_`,
/// starting with a letter or digit. A token of one to three hex digits is a hex dump row
/// offset (`c0: 86 80 ...`), not a host, and is left alone.
pub fn split_host_prefix(line: &str) -> (Option<&str>, &str) {
    // `pdsh` prints an empty output line as `host: `; some tools strip that to `host:`.
    let colon = match find_colon_space(line) {
        Some(c) => c,
        None if line.ends_with(':') && !line.contains(char::is_whitespace) => line.len() - 1,
        None => return (None, line),
    };
    let host = &line[..colon];
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.as_bytes()[0].is_ascii_alphanumeric()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    // A hex dump row (`c0: 86 80 ...`): an offset that is a multiple of 16, then bytes.
    let hex_row = (2..=3).contains(&host.len())
        && host.ends_with('0')
        && host.bytes().all(|b| b.is_ascii_hexdigit())
        && line[colon + 1..]
            .split_ascii_whitespace()
            .next()
            .is_some_and(|t| t.len() == 2 && t.bytes().all(|b| b.is_ascii_hexdigit()));
    if valid && !hex_row {
        (Some(host), line.get(colon + 2..).unwrap_or(""))
    } else {
        (None, line)
    }
}

/// `line.find(": ")` without the substring searcher's set-up cost (this runs on every line
/// of pdsh output and of hex dumps).
pub(crate) fn find_colon_space(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr(b':', &b[from..]) {
        let at = from + i;
        if b.get(at + 1) == Some(&b' ') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Splits the address off a device header line; the rest is the title (`PCI bridge: ...`).
///
/// Accepts `17:00.0`, `0000:17:00.0`, `10000:00:02.0` and lspci `-PP` paths such as
/// `00:01.0/01:00.0/02:00.0`, where the device is the last element.
pub fn split_address(line: &str) -> Option<(PciAddress, &str)> {
    let end = line.find([' ', '\t']).unwrap_or(line.len());
    let token = &line[..end];
    let rest = &line[end..];
    let domain_bus_dev = token.rsplit('/').next()?;
    let mut address: PciAddress = domain_bus_dev.parse().ok()?;
    if token.contains('/') {
        // -PP paths carry the domain only on their first element.
        let first = token.split('/').next()?;
        if first.matches(':').count() == 2 {
            let first: PciAddress = first.parse().ok()?;
            address.domain = first.domain;
        }
    }
    Some((address, rest.trim_start()))
}

/// Identity read from a device header line's title.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Title {
    /// Ids shown with `-n`/`-nn` and `(rev ..)`, `(prog-if ..)`.
    pub ids: DeviceIds,
    /// Names shown without `-n`.
    pub names: DeviceNames,
}

/// Parses `Ethernet controller [0200]: Mellanox Technologies MT27520 Family [ConnectX-3 Pro] [15b3:1007] (rev 01) (prog-if 00 [Normal decode])`
/// and its `-n` / plain variants.
pub fn parse_title(title: &str) -> Title {
    let mut t = Title::default();
    let mut rest = title.trim();
    // Trailing "(prog-if 00 [Normal decode])" and "(rev 02)", in that order from the end.
    if let Some(idx) = rest.rfind("(prog-if ") {
        if rest.ends_with(')') {
            let inner = &rest[idx + 9..rest.len() - 1];
            t.ids.prog_if = u8::from_str_radix(inner.get(..2).unwrap_or(""), 16).ok();
            rest = rest[..idx].trim_end();
        }
    }
    if let Some(idx) = rest.rfind("(rev ") {
        if rest.ends_with(')') {
            t.ids.revision = u8::from_str_radix(&rest[idx + 5..rest.len() - 1], 16).ok();
            rest = rest[..idx].trim_end();
        }
    }
    // `-n` alone prints "0604: 8086:2f04" with no names.
    let (class_part, dev_part) = match rest.split_once(": ") {
        Some((c, d)) => (c, d),
        None => (rest, ""),
    };
    let (class_name, class_id) = split_bracket_id(class_part);
    if let Some(id) = class_id.filter(|s| s.len() == 4) {
        t.ids.class = u16::from_str_radix(id, 16).ok();
    } else if class_part.len() == 4 && class_part.bytes().all(|b| b.is_ascii_hexdigit()) {
        t.ids.class = u16::from_str_radix(class_part, 16).ok();
    }
    if !class_name.is_empty() && t.ids.class.is_none() || class_id.is_some() {
        t.names.class = Some(class_name.to_string()).filter(|s| !s.is_empty());
    }
    let (dev_name, dev_id) = split_bracket_id(dev_part);
    let numeric = |s: &str| -> Option<(u16, u16)> {
        let (v, d) = s.split_once(':')?;
        if v.len() != 4 || d.len() != 4 {
            return None;
        }
        Some((
            u16::from_str_radix(v, 16).ok()?,
            u16::from_str_radix(d, 16).ok()?,
        ))
    };
    if let Some((v, d)) = dev_id.and_then(numeric) {
        t.ids.vendor = Some(v);
        t.ids.device = Some(d);
        if !dev_name.is_empty() {
            t.names.device = Some(dev_name.to_string());
        }
    } else if let Some((v, d)) = numeric(dev_part.trim()) {
        t.ids.vendor = Some(v);
        t.ids.device = Some(d);
    } else if !dev_part.trim().is_empty() {
        t.names.device = Some(dev_part.trim().to_string());
    }
    t
}

/// Splits `Name [abcd]` into `("Name", Some("abcd"))`; brackets that hold names, such as
/// `[ConnectX-3 Pro]`, stay part of the name.
pub fn split_bracket_id(s: &str) -> (&str, Option<&str>) {
    let s = s.trim();
    if let Some(stripped) = s.strip_suffix(']') {
        if let Some(open) = stripped.rfind('[') {
            let inner = &stripped[open + 1..];
            let is_id =
                !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
            if is_id {
                return (s[..open].trim_end(), Some(inner));
            }
        }
    }
    (s, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_prefix() {
        assert_eq!(
            split_host_prefix("node-7: 00:01.0 X"),
            (Some("node-7"), "00:01.0 X")
        );
        assert_eq!(split_host_prefix("c0: 00 11"), (None, "c0: 00 11"));
        assert_eq!(
            split_host_prefix("\tControl: I/O+"),
            (None, "\tControl: I/O+")
        );
    }

    #[test]
    fn title_with_numbers() {
        let t = parse_title("Ethernet controller [0200]: Mellanox Technologies MT27520 Family [ConnectX-3 Pro] [15b3:1007] (rev 01)");
        assert_eq!(t.ids.class, Some(0x0200));
        assert_eq!(t.ids.vendor, Some(0x15b3));
        assert_eq!(t.ids.device, Some(0x1007));
        assert_eq!(t.ids.revision, Some(1));
        assert_eq!(
            t.names.device.as_deref(),
            Some("Mellanox Technologies MT27520 Family [ConnectX-3 Pro]")
        );
        assert_eq!(t.names.class.as_deref(), Some("Ethernet controller"));
    }

    #[test]
    fn title_plain_and_prog_if() {
        let t = parse_title(
            "PCI bridge: Intel Corporation Device 2f04 (rev 02) (prog-if 00 [Normal decode])",
        );
        assert_eq!(t.ids.prog_if, Some(0));
        assert_eq!(t.ids.revision, Some(2));
        assert_eq!(t.ids.class, None);
        assert_eq!(t.names.class.as_deref(), Some("PCI bridge"));
    }

    #[test]
    fn pp_paths() {
        let (a, rest) = split_address("00:01.0/01:00.0 PCI bridge: X").unwrap();
        assert_eq!(a.to_string(), "0000:01:00.0");
        assert_eq!(rest, "PCI bridge: X");
    }
}
