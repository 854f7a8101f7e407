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
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
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
