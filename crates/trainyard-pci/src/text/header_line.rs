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
    match canonical_address(line.as_bytes()) {
        Some((address, end)) => Some((address, line[end..].trim_start())),
        None => split_any_address(line),
    }
}

/// [`split_address`] for every form it accepts (the canonical one included).
fn split_any_address(line: &str) -> Option<(PciAddress, &str)> {
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

/// The address lspci prints by default, `0000:17:00.0` or `17:00.0`, read at the start of
/// `b` when it is followed by a space, a tab or nothing: `(address, its length)`. `None`
/// for anything else, which [`split_address`] then reads the general way. Every header
/// line of every node of a fleet is tested with [`split_address`] (through
/// `starts_device`), and the general way (token search, `/` paths, splits, radix parses)
/// cost some two thousand instructions a line.
fn canonical_address(b: &[u8]) -> Option<(PciAddress, usize)> {
    fn hex(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0u32, |v, &c| {
            let d = char::from(c).to_digit(16)?;
            Some(v << 4 | d)
        })
    }
    let (domain, at) = match b.get(4) {
        Some(b':') => (hex(b.get(..4)?)?, 5),
        _ => (0, 0),
    };
    let t = b.get(at..at + 7)?;
    if t[2] != b':' || t[5] != b'.' || !matches!(b.get(at + 7), None | Some(b' ' | b'\t')) {
        return None;
    }
    let (bus, device, function) = (hex(&t[..2])?, hex(&t[3..5])?, hex(&t[6..7])?);
    if device > 0x1f || function > 7 {
        return None;
    }
    Some((
        PciAddress::new(domain, bus as u8, device as u8, function as u8),
        at + 7,
    ))
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
    fn the_canonical_address_reads_as_the_general_way_does() {
        let lines = [
            "0000:17:00.0 PCI bridge [0604]: x",
            "17:00.0 PCI bridge: x",
            "17:00.0\tPCI bridge: x",
            "17:00.0",
            "0000:17:00.0",
            "00ab:FF:1f.7 x",
            "0000:17:20.0 device 0x20 is out of range",
            "0000:17:00.8 function 8 is out of range",
            "10000:00:02.0 five-digit domain",
            "00:01.0/01:00.0/02:00.0 Ethernet controller: x",
            "0000:00:01.0/01:00.0 Ethernet controller: x",
            "0000:17:00.0: not followed by a space",
            "+0:17:00.0 x",
            "00:0+.0 x",
            "0000:17:00. x",
            "0000:17:00",
            "17:00.0x",
            "zz:00.0 x",
            "",
            ":",
            "\t\tDevCap: x",
        ];
        for line in lines {
            assert_eq!(split_address(line), split_any_address(line), "{line:?}");
        }
        assert!(canonical_address(b"0000:17:00.0 x").is_some());
        assert!(canonical_address(b"17:00.0").is_some());
        assert!(canonical_address(b"10000:00:02.0 x").is_none());
    }

    #[test]
    fn the_canonical_address_agrees_with_the_general_way_on_address_like_noise() {
        // Strings of the characters addresses are made of, at the lengths around theirs,
        // from a fixed-seed generator: both ways must give the same answer on every one.
        const CHARS: &[u8] = b"0123456789abcdefABF:./ \txg+-";
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..200_000 {
            let len = (next() % 16) as usize;
            let line: String = (0..len)
                .map(|_| char::from(CHARS[(next() % CHARS.len() as u64) as usize]))
                .collect();
            assert_eq!(split_address(&line), split_any_address(&line), "{line:?}");
        }
        // And every canonical address itself, with and without a domain.
        for (bus, dev, func) in [(0u8, 0u8, 0u8), (0x17, 0x1f, 7), (0xff, 0x10, 3)] {
            for line in [
                format!("{bus:02x}:{dev:02x}.{func} x"),
                format!("0001:{bus:02X}:{dev:02x}.{func}\tx"),
            ] {
                assert_eq!(split_address(&line), split_any_address(&line), "{line:?}");
                assert!(split_address(&line).is_some(), "{line:?}");
            }
        }
    }

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
