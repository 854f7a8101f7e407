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
    let sub = lookup_device(vendor, device).and_then(|d| {
        d.subsystems()
            .find(|s| s.subvendor() == sub_vendor && s.subdevice() == sub_device)
            .map(|s| s.name())
    });
    let vendor_part = vendor_name(sub_vendor)
        .map(str::to_string)
        .unwrap_or_else(|| format!("Device {sub_vendor:04x}"));
    match sub {
        Some(name) => format!("{vendor_part} {name}"),
        None => format!("{vendor_part} Device {sub_device:04x}"),
    }
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
