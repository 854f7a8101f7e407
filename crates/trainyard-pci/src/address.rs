//! PCI addresses: `domain:bus:device.function`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A PCI function address, printed as `0000:17:00.0`.
///
/// lspci omits the domain when every device is in domain 0 (`17:00.0`); parsing accepts both
/// forms and fills in domain 0. VMD and some arm64 platforms use domains wider than 16 bits
/// (`10000:00:02.0`), so the domain is a `u32`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress {
    /// PCI segment (domain).
    pub domain: u32,
    /// Bus number.
    pub bus: u8,
    /// Device number, 0..=31.
    pub device: u8,
    /// Function number, 0..=7.
    pub function: u8,
}

/// Why a string is not a PCI address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a PCI address (expected [DOMAIN:]BUS:DEV.FN such as 0000:17:00.0): {0:?}")]
pub struct AddressError(pub String);

impl PciAddress {
    /// Builds an address; `device` and `function` are masked to their 5 and 3 bits.
    pub fn new(domain: u32, bus: u8, device: u8, function: u8) -> Self {
        Self {
            domain,
            bus,
            device: device & 0x1f,
            function: function & 0x7,
        }
    }
}

impl fmt::Display for PciAddress {
    /// Same text as `{:04x}:{:02x}:{:02x}.{:x}`, formatted by hand: `pci parse --format
    /// fields` prints the address on every output line, and the generic integer formatting
    /// was a sixth of its profile.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 24];
        let mut len = 0;
        let mut hex = |value: u32, min_digits: u32, sep: Option<u8>| {
            let digits = (32 - value.leading_zeros()).div_ceil(4).max(min_digits);
            for i in (0..digits).rev() {
                buf[len] = b"0123456789abcdef"[((value >> (4 * i)) & 0xf) as usize];
                len += 1;
            }
            if let Some(c) = sep {
                buf[len] = c;
                len += 1;
            }
        };
        hex(self.domain, 4, Some(b':'));
        hex(u32::from(self.bus), 2, Some(b':'));
        hex(u32::from(self.device), 2, Some(b'.'));
        hex(u32::from(self.function), 1, None);
        // Only ASCII hex digits and separators were written.
        f.write_str(std::str::from_utf8(&buf[..len]).map_err(|_| fmt::Error)?)
    }
}

impl FromStr for PciAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || AddressError(s.to_string());
        let (rest, function) = s.rsplit_once('.').ok_or_else(err)?;
        let function = u8::from_str_radix(function, 16).map_err(|_| err())?;
        let mut parts = rest.rsplitn(3, ':');
        let device = parts.next().ok_or_else(err)?;
        let bus = parts.next().ok_or_else(err)?;
        let domain = parts.next();
        let hex_u8 = |t: &str| {
            if t.is_empty() || t.len() > 2 {
                return Err(err());
            }
            u8::from_str_radix(t, 16).map_err(|_| err())
        };
        let device = hex_u8(device)?;
        let bus = hex_u8(bus)?;
        let domain = match domain {
            None => 0,
            Some(d) if !d.is_empty() && d.len() <= 8 => {
                u32::from_str_radix(d, 16).map_err(|_| err())?
            }
            Some(_) => return Err(err()),
        };
        if device > 0x1f || function > 7 {
            return Err(err());
        }
        Ok(Self::new(domain, bus, device, function))
    }
}

impl Serialize for PciAddress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PciAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_and_without_domain() {
        let a: PciAddress = "17:00.0".parse().unwrap();
        assert_eq!(a.to_string(), "0000:17:00.0");
        let b: PciAddress = "10000:00:02.0".parse().unwrap();
        assert_eq!(b.to_string(), "10000:00:02.0");
        assert_eq!(b.domain, 0x10000);
    }

    /// The hand-written Display matches the format string it replaced, out-of-range
    /// fields (set directly, not through `new`) included.
    #[test]
    fn display_matches_format_string() {
        for domain in [0, 1, 0xabc, 0xffff, 0x1_0000, 0xdead_beef, u32::MAX] {
            for (bus, device, function) in [(0, 0, 0), (0x17, 0x1f, 7), (0xff, 0xff, 0xff)] {
                let a = PciAddress {
                    domain,
                    bus,
                    device,
                    function,
                };
                let want = format!("{domain:04x}:{bus:02x}:{device:02x}.{function:x}");
                assert_eq!(a.to_string(), want);
            }
        }
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "17:00",
            "zz:00.0",
            "00:20.0",
            "00:00.8",
            "1:2:3:4.0",
            "000:0000.0",
        ] {
            assert!(s.parse::<PciAddress>().is_err(), "{s}");
        }
    }
}
