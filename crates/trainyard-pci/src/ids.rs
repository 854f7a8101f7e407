//! Device names from the pci.ids database (embedded by the `pci-ids` crate).

use crate::device::Device;

/// Vendor name for an id.
pub fn vendor_name(vendor: u16) -> Option<&'static str> {
    use pci_ids::FromId;
    pci_ids::Vendor::from_id(vendor).map(|v| v.name())
}

/// Device name for a vendor/device pair.
pub fn device_name(vendor: u16, device: u16) -> Option<&'static str> {
    lookup_device(vendor, device).map(|d| d.name())
}

/// `pci_ids::Device::from_vid_pid` searches the embedded database linearly (thousands of
/// instructions a call, twice per decoded device); fleets repeat the same few devices, so
/// answers are remembered per thread.
fn lookup_device(vendor: u16, device: u16) -> Option<&'static pci_ids::Device> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static CACHE: RefCell<HashMap<(u16, u16), Option<&'static pci_ids::Device>, crate::fxhash::FxBuild>> =
            RefCell::new(HashMap::default());
    }
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 65_536 {
            c.clear();
        }
        *c.entry((vendor, device))
            .or_insert_with(|| pci_ids::Device::from_vid_pid(vendor, device))
    })
}

/// Subsystem name, as lspci prints it after `Subsystem:`: the subsystem vendor's name
/// followed by the subsystem's own name, or `Device XXXX` when the database lacks it.
pub fn subsystem_name(vendor: u16, device: u16, sub_vendor: u16, sub_device: u16) -> String {
    // Put together piece by piece at its exact size: `format!` of the two names regrew its
    // buffer, and this runs twice per decoded device (header line and names).
    let mut hex = [0u8; 4];
    let vendor_part = vendor_name(sub_vendor);
    let mut out = String::with_capacity(vendor_part.map_or(11, str::len) + 1 + 32);
    match vendor_part {
        Some(v) => out.push_str(v),
        None => {
            out.push_str("Device ");
            out.push_str(hex4(sub_vendor, &mut hex));
        }
    }
    out.push(' ');
    match lookup_subsystem(vendor, device, sub_vendor, sub_device) {
        Some(name) => out.push_str(name),
        None => {
            out.push_str("Device ");
            out.push_str(hex4(sub_device, &mut hex));
        }
    }
    out
}

/// `v` as four lowercase hex digits (`{v:04x}`), written into `buf`.
fn hex4(v: u16, buf: &mut [u8; 4]) -> &str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in buf.iter_mut().enumerate() {
        *b = HEX[usize::from(v >> (12 - 4 * i)) & 0xf];
    }
    std::str::from_utf8(buf).unwrap_or("????")
}

/// The database's name of a subsystem of a device. A device may list hundreds of
/// subsystems, searched in order; as with [`lookup_device`], answers are remembered per
/// thread (a name database lookup, keyed by the four ids).
fn lookup_subsystem(vendor: u16, device: u16, sv: u16, sd: u16) -> Option<&'static str> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    type Key = (u16, u16, u16, u16);
    thread_local! {
        static CACHE: RefCell<HashMap<Key, Option<&'static str>, crate::fxhash::FxBuild>> =
            RefCell::new(HashMap::default());
    }
    let find = || {
        lookup_device(vendor, device).and_then(|d| {
            d.subsystems()
                .find(|s| s.subvendor() == sv && s.subdevice() == sd)
                .map(|s| s.name())
        })
    };
    CACHE
        .try_with(|c| {
            let mut c = c.borrow_mut();
            if c.len() > 65_536 {
                c.clear();
            }
            *c.entry((vendor, device, sv, sd)).or_insert_with(find)
        })
        .unwrap_or_else(|_| find())
}

/// Class name for a base class and subclass (`0x0604` → `PCI bridge`).
pub fn class_name(class: u16) -> Option<&'static str> {
    let (base, sub) = ((class >> 8) as u8, (class & 0xff) as u8);
    if let Some(s) = pci_ids::Subclass::from_cid_sid(base, sub) {
        return Some(s.name());
    }
    use pci_ids::FromId;
    pci_ids::Class::from_id(base).map(|c| c.name())
}

/// Fills the names of `dev` that are still empty from its numeric ids.
pub fn fill_names(dev: &mut Device) {
    let ids = dev.ids;
    if let Some(v) = ids.vendor {
        if dev.names.vendor.is_none() {
            dev.names.vendor = vendor_name(v).map(str::to_string);
        }
        if let (Some(d), None) = (ids.device, &dev.names.device) {
            dev.names.device = Some(
                device_name(v, d)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("Device {d:04x}")),
            );
        }
        if let (Some(d), Some(sv), Some(sd), None) = (
            ids.device,
            ids.subsystem_vendor,
            ids.subsystem_device,
            &dev.names.subsystem,
        ) {
            dev.names.subsystem = Some(subsystem_name(v, d, sv, sd));
        }
    }
    if let (Some(c), None) = (ids.class, &dev.names.class) {
        dev.names.class = Some(
            class_name(c)
                .map(str::to_string)
                .unwrap_or_else(|| format!("Class {c:04x}")),
        );
    }
}

/// Class code (base class and subclass) for a class name as lspci prints it
/// (`3D controller` → `0x0302`). Names that are a base class only (`Mass storage
/// controller`) give the base class with subclass 0x80 ("other").
pub fn class_by_name(name: &str) -> Option<u16> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static TABLE: OnceLock<HashMap<&'static str, u16>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = HashMap::new();
        for class in pci_ids::Classes::iter() {
            t.entry(class.name())
                .or_insert(u16::from(class.id()) << 8 | 0x80);
            for sub in class.subclasses() {
                t.insert(sub.name(), u16::from(class.id()) << 8 | u16::from(sub.id()));
            }
        }
        t
    });
    table.get(name).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name as the `format!`-based version before it put it together.
    fn subsystem_name_by_format(vendor: u16, device: u16, sv: u16, sd: u16) -> String {
        let sub = lookup_device(vendor, device).and_then(|d| {
            d.subsystems()
                .find(|s| s.subvendor() == sv && s.subdevice() == sd)
                .map(|s| s.name())
        });
        let vendor_part = vendor_name(sv)
            .map(str::to_string)
            .unwrap_or_else(|| format!("Device {sv:04x}"));
        match sub {
            Some(name) => format!("{vendor_part} {name}"),
            None => format!("{vendor_part} Device {sd:04x}"),
        }
    }

    #[test]
    fn subsystem_names_read_like_lspci() {
        let unknown = (1..0xffff).find(|&v| vendor_name(v).is_none()).unwrap();
        // Intel 82599 (8086:10fb): a listed subsystem, an unlisted one, an unknown vendor.
        let listed = subsystem_name(0x8086, 0x10fb, 0x8086, 0x000c);
        assert!(!listed.ends_with("Device 000c"), "{listed}");
        for (v, d, sv, sd) in [
            (0x8086, 0x10fb, 0x8086, 0x000c),
            (0x8086, 0x10fb, 0x8086, 0xbeef),
            (0x8086, 0x10fb, unknown, 0x0a0b),
            (unknown, 0x1234, unknown, 0x00f0),
            (0x10de, 0x20b5, 0x10de, 0x1533),
        ] {
            assert_eq!(
                subsystem_name(v, d, sv, sd),
                subsystem_name_by_format(v, d, sv, sd)
            );
        }
    }
}
