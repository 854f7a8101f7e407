//! What the rules read of a device alone (its role, port type, error bits, link, payload
//! and ordering registers), read in one pass over its settings and kept once per distinct
//! device rather than once per node.
//!
//! Every rule reads these for every device of every node; anything else a rule reads
//! (evidence, sysfs) is read only for a device it reports on. Looking the keys up one by one
//! builds the device's hash index of settings first (a hundred or more of them) and then
//! hashes every key: a few times the cost of one pass that picks the twenty-odd keys out as
//! it goes, which is what a device not shared with other nodes costs now.
//!
//! Nodes read from a fleet share one parsed device wherever they repeat a device block byte
//! for byte (`sources`' block memo), so most devices a thread sees are ones it has judged
//! before: for a shared device the facts are kept per thread, keyed by the device's address
//! in memory.
//!
//! A key is only trusted together with a [`Weak`] to the same device: the weak reference
//! keeps the allocation from being reused for another device while the entry exists, and
//! the device itself is alive while a node holds it. Memory is bounded by [`MAX_ENTRIES`]:
//! when full, entries of devices no node or memo holds any more are dropped, and if most
//! are still alive the cache starts over.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

use trainyard_pci::{Device, PortType, Role};

use super::aer::{self, AerBits};
use super::values::{bytes, speed, width};
use crate::fxhash::FxBuild;

/// Most devices remembered per thread: a few fleets' worth of distinct devices, about
/// 150 bytes each (2.5 MiB at most).
const MAX_ENTRIES: usize = 1 << 14;

/// What the rules read of a device on its own, for every device of every node. Rules read
/// anything else (evidence, sysfs) only for a device they report on.
///
/// Each value is what [`Device::field`] and the rules' parsers (`values`) give for the key,
/// but all are taken in one pass over the device's settings: a lookup builds a hash index
/// of the device's settings first (a hundred or more of them), which cost more than the
/// rules themselves for devices not shared between nodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DeviceFacts {
    /// [`Device::role`].
    pub role: Role,
    /// [`Device::port_type`] (`Express.Type`).
    pub port_type: Option<PortType>,
    /// Its AER and Device Status error bits.
    pub aer: AerBits,
    /// Bit `i` set when the ACS rule's `REDIRECT[i]` is `+`.
    pub acs_redirect: u32,
    /// Link registers.
    pub link: LinkFacts,
    /// `DevCtl.MaxPayload` in bytes.
    pub max_payload: Option<u32>,
    /// `DevCap.MaxPayload` in bytes.
    pub max_payload_cap: Option<u32>,
    /// `DevCtl.MaxReadReq` in bytes.
    pub max_read_req: Option<u32>,
    /// `DevCtl.RlxdOrd` is `-`.
    pub relaxed_ordering_off: bool,
    /// `Capabilities` is `<access denied>` (lspci run without root).
    pub access_denied: bool,
    /// A purely virtual device (virtio, QEMU, ...): the node is a VM.
    pub virtual_device: bool,
}

/// The link registers the link rules read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct LinkFacts {
    /// Whether `LnkSta.Width` is present at all.
    pub has_sta_width: bool,
    /// `LnkSta.Width` in lanes.
    pub sta_width: Option<u32>,
    /// `LnkSta.Speed` in GT/s.
    pub sta_speed: Option<f64>,
    /// Whether `LnkCap.Speed` is present at all.
    pub has_cap_speed: bool,
    /// `LnkCap.Speed` in GT/s.
    pub cap_speed: Option<f64>,
    /// `LnkCap.Width` in lanes.
    pub cap_width: Option<u32>,
    /// `LnkCtl2.Target Link Speed` in GT/s.
    pub target_speed: Option<f64>,
}

/// The first value of each key the facts come from, gathered in one pass.
#[derive(Default)]
struct Raw<'a> {
    express_type: Option<&'a str>,
    capabilities: Option<&'a str>,
    sta_width: Option<&'a str>,
    sta_speed: Option<&'a str>,
    cap_speed: Option<&'a str>,
    cap_width: Option<&'a str>,
    target_speed: Option<&'a str>,
    max_payload: Option<&'a str>,
    max_payload_cap: Option<&'a str>,
    max_read_req: Option<&'a str>,
    relaxed_ordering: Option<&'a str>,
    acs_redirect: Flags,
    aer: aer::Flags,
}

/// `+` flags of a list of keys, first occurrence of each key only (like [`Device::field`]).
#[derive(Default, Clone, Copy)]
pub(crate) struct Flags {
    /// Keys met.
    seen: u32,
    /// Keys met whose (first) value is `+`.
    pub on: u32,
}

impl Flags {
    /// Records `value` of `keys[i]`, when `key` is one of `keys`.
    /// Returns whether `key` is one of `keys`.
    #[inline]
    pub(crate) fn record(&mut self, keys: &[&str], key: &str, value: &str) -> bool {
        let Some(i) = keys.iter().position(|k| *k == key) else {
            return false;
        };
        let bit = 1 << i;
        if self.seen & bit == 0 {
            self.seen |= bit;
            if value == "+" {
                self.on |= bit;
            }
        }
        true
    }
}

/// Whether two devices have what decides the facts besides their settings: the ids and
/// names (role, virtual device) and whether they are bridges.
pub(crate) fn same_identity(a: &Device, b: &Device) -> bool {
    a.ids == b.ids && a.names == b.names && a.bus.is_some() == b.bus.is_some()
}

/// Keeps the first value of a key, as [`Device::field`] returns the first.
#[inline]
fn first<'a>(slot: &mut Option<&'a str>, value: &'a str) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

impl<'a> Raw<'a> {
    /// Takes one setting, in the device's order; returns whether its key is one the facts
    /// read.
    #[inline]
    fn record(&mut self, key: &'a str, value: &'a str) -> bool {
        // Most settings are none of these: one byte tells most of them apart.
        match key.as_bytes().first() {
            Some(b'A' | b'C' | b'D' | b'E' | b'L' | b'U') => {}
            _ => return false,
        }
        match key {
            "Express.Type" => first(&mut self.express_type, value),
            "Capabilities" => first(&mut self.capabilities, value),
            "LnkSta.Width" => first(&mut self.sta_width, value),
            "LnkSta.Speed" => first(&mut self.sta_speed, value),
            "LnkCap.Speed" => first(&mut self.cap_speed, value),
            "LnkCap.Width" => first(&mut self.cap_width, value),
            "LnkCtl2.Target Link Speed" => first(&mut self.target_speed, value),
            "DevCtl.MaxPayload" => first(&mut self.max_payload, value),
            "DevCap.MaxPayload" => first(&mut self.max_payload_cap, value),
            "DevCtl.MaxReadReq" => first(&mut self.max_read_req, value),
            "DevCtl.RlxdOrd" => first(&mut self.relaxed_ordering, value),
            _ if key.starts_with("ACSCtl.") => {
                return self.acs_redirect.record(super::acs::REDIRECT, key, value);
            }
            _ => return self.aer.record(key, value),
        }
        true
    }

    /// The facts of device `d`, whose settings were all recorded (`virtual_device`:
    /// whether `d` is a virtual device, which its identity alone decides).
    fn finish(&self, d: &Device, virtual_device: bool) -> DeviceFacts {
        let port_type = self.express_type.and_then(PortType::from_express_type);
        DeviceFacts {
            role: d.role_with_port_type(port_type),
            port_type,
            aer: self.aer.bits(),
            acs_redirect: self.acs_redirect.on,
            link: LinkFacts {
                has_sta_width: self.sta_width.is_some(),
                sta_width: self.sta_width.and_then(width),
                sta_speed: self.sta_speed.and_then(speed),
                has_cap_speed: self.cap_speed.is_some(),
                cap_speed: self.cap_speed.and_then(speed),
                cap_width: self.cap_width.and_then(width),
                target_speed: self.target_speed.and_then(speed),
            },
            max_payload: self.max_payload.and_then(bytes),
            max_payload_cap: self.max_payload_cap.and_then(bytes),
            max_read_req: self.max_read_req.and_then(bytes),
            relaxed_ordering_off: self.relaxed_ordering == Some("-"),
            access_denied: self.capabilities == Some("<access denied>"),
            virtual_device,
        }
    }
}

impl DeviceFacts {
    /// Reads the facts of `d` in one pass over its settings.
    pub(crate) fn of(d: &Device) -> Self {
        let mut raw = Raw::default();
        for f in d.fields.iter() {
            raw.record(f.key.as_str(), f.value.as_str());
        }
        raw.finish(d, super::platform::is_virtual_device(d))
    }

    /// The facts of `d`, and the positions in its settings of the keys they come from
    /// (ascending), for [`patched`](Self::patched).
    pub(crate) fn with_keys(d: &Device) -> (Self, Vec<u32>) {
        let mut raw = Raw::default();
        let mut keys = Vec::new();
        for (i, f) in d.fields.iter().enumerate() {
            if raw.record(f.key.as_str(), f.value.as_str()) {
                keys.push(i as u32);
            }
        }
        let facts = raw.finish(d, super::platform::is_virtual_device(d));
        (facts, keys)
    }

    /// The facts of `d`, given that it has the settings of a device whose facts are
    /// `self` (`base`) but for `changed` (setting position and `d`'s value, ascending):
    /// the same keys in the same order, as the fold's comparison with a slot's reference
    /// establishes. `keys` are `base`'s fact keys from [`with_keys`](Self::with_keys), and
    /// `setting(i)` is `base`'s `i`th key and value.
    ///
    /// Nodes' devices at a slot mostly differ from the reference in a serial number or an
    /// IRQ, which no fact reads: then these are `self` (when `d`'s identity, which decides
    /// the role, is also `base`'s), and otherwise only the fact keys are gone over again,
    /// never all of `d`'s settings.
    pub(crate) fn patched<'s>(
        &self,
        base: &Device,
        d: &Device,
        keys: &[u32],
        setting: impl Fn(u32) -> (&'s str, &'s str),
        changed: &[(u32, &'s str)],
    ) -> Self {
        if !same_identity(base, d) {
            return Self::of(d);
        }
        if !changed.iter().any(|(i, _)| keys.binary_search(i).is_ok()) {
            return *self;
        }
        let mut raw = Raw::default();
        for &i in keys {
            let (key, value) = setting(i);
            let value = match changed.binary_search_by_key(&i, |&(j, _)| j) {
                Ok(at) => changed[at].1,
                Err(_) => value,
            };
            raw.record(key, value);
        }
        raw.finish(d, self.virtual_device)
    }
}

#[derive(Default)]
struct Cache {
    entries: HashMap<usize, (Weak<Device>, DeviceFacts), FxBuild>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// The facts of every device, in order.
pub(crate) fn of(devices: &[Arc<Device>]) -> Vec<DeviceFacts> {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        devices.iter().map(|d| c.get(d)).collect()
    })
}

/// The facts of one device.
pub(crate) fn of_one(device: &Arc<Device>) -> DeviceFacts {
    CACHE.with(|c| c.borrow_mut().get(device))
}

impl Cache {
    fn get(&mut self, d: &Arc<Device>) -> DeviceFacts {
        let key = Arc::as_ptr(d) as usize;
        if let Some((weak, facts)) = self.entries.get(&key) {
            if std::ptr::eq(weak.as_ptr(), Arc::as_ptr(d)) {
                return *facts;
            }
        }
        let facts = DeviceFacts::of(d);
        // A device held by this node alone (not shared through the block memo) will not be
        // seen again: remembering it would only fill the cache.
        if Arc::strong_count(d) > 1 {
            if self.entries.len() >= MAX_ENTRIES {
                self.entries.retain(|_, (w, _)| w.strong_count() > 0);
                if self.entries.len() >= MAX_ENTRIES / 2 {
                    self.entries.clear();
                }
            }
            self.entries.insert(key, (Arc::downgrade(d), facts));
        }
        facts
    }
}

#[cfg(test)]
mod tests {
    use super::super::values::{bytes, speed, width};
    use super::*;

    const SERVERS: [&str; 3] = [
        include_str!("../../../../tests/data/gpu-servers/hpe-cray-xd665-0EA228FAAE-vvnn.txt"),
        include_str!("../../../../tests/data/gpu-servers/gigabyte-g291-280-C9D3376115-vvnn.txt"),
        include_str!(
            "../../../../tests/data/faulty/linuxpci-2019-11-kabylake-laptop-pcie-aer-error-vvv.txt"
        ),
    ];

    /// The one pass gives what looking every key up gives, on every device of real dumps
    /// (switches, GPUs, NICs, AER errors).
    #[test]
    fn one_pass_reads_what_lookups_read() {
        let mut devices = 0;
        for text in SERVERS {
            for d in trainyard_pci::text::parse_str(text).devices {
                let f = DeviceFacts::of(&d);
                let get = |k: &str| d.field(k);
                assert_eq!(f.role, d.role(), "{}", d.address);
                assert_eq!(f.port_type, d.port_type());
                let l = f.link;
                assert_eq!(l.has_sta_width, get("LnkSta.Width").is_some());
                assert_eq!(l.sta_width, get("LnkSta.Width").and_then(width));
                assert_eq!(l.sta_speed, get("LnkSta.Speed").and_then(speed));
                assert_eq!(l.has_cap_speed, get("LnkCap.Speed").is_some());
                assert_eq!(l.cap_speed, get("LnkCap.Speed").and_then(speed));
                assert_eq!(l.cap_width, get("LnkCap.Width").and_then(width));
                assert_eq!(
                    l.target_speed,
                    get("LnkCtl2.Target Link Speed").and_then(speed)
                );
                assert_eq!(f.max_payload, get("DevCtl.MaxPayload").and_then(bytes));
                assert_eq!(f.max_payload_cap, get("DevCap.MaxPayload").and_then(bytes));
                assert_eq!(f.max_read_req, get("DevCtl.MaxReadReq").and_then(bytes));
                assert_eq!(f.relaxed_ordering_off, get("DevCtl.RlxdOrd") == Some("-"));
                assert_eq!(
                    f.access_denied,
                    get("Capabilities") == Some("<access denied>")
                );
                let redirect = super::super::acs::REDIRECT
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| get(k) == Some("+"))
                    .fold(0, |m, (i, _)| m | 1 << i);
                assert_eq!(f.acs_redirect, redirect);
                assert_eq!(
                    f.virtual_device,
                    super::super::platform::is_virtual_device(&d)
                );
                devices += 1;
            }
        }
        assert!(devices > 300, "{devices} devices");
    }

    /// Facts patched from a base device's are those of the changed device, whichever
    /// settings change (ones the facts read or not) and whatever the new values are.
    #[test]
    fn patched_facts_are_the_changed_devices() {
        const VALUES: [&str; 9] = [
            "+",
            "-",
            "x4",
            "2.5GT/s",
            "128 bytes",
            "Endpoint",
            "Downstream Port",
            "<access denied>",
            "junk",
        ];
        let mut patched = 0;
        for text in [SERVERS[0], SERVERS[2]] {
            for d in trainyard_pci::text::parse_str(text).devices {
                let (base, keys) = DeviceFacts::with_keys(&d);
                assert_eq!(base, DeviceFacts::of(&d));
                let settings: Vec<(String, String)> = d
                    .fields
                    .iter()
                    .map(|f| (f.key.to_string(), f.value.to_string()))
                    .collect();
                let setting = |i: u32| {
                    let (k, v) = &settings[i as usize];
                    (k.as_str(), v.as_str())
                };
                for step in [1, 3, 7, 50] {
                    let mut changed_settings = settings.clone();
                    let mut changed: Vec<(u32, &str)> = Vec::new();
                    for (i, value) in changed_settings.iter_mut().enumerate().skip(step / 2) {
                        if i % step == 0 {
                            let v = VALUES[(i / step) % VALUES.len()];
                            if value.1 != v {
                                value.1 = v.to_string();
                                changed.push((i as u32, v));
                            }
                        }
                    }
                    let mut other = d.clone();
                    other.fields = changed_settings.into_iter().collect();
                    let got = base.patched(&d, &other, &keys, setting, &changed);
                    assert_eq!(got, DeviceFacts::of(&other), "{} step {step}", d.address);
                    patched += usize::from(got != base);
                }
                // Another identity (the role reads names): computed afresh.
                let mut renamed = d.clone();
                renamed.names.device = Some("NVIDIA Corporation GH100".into());
                renamed.ids.class = Some(0x0302);
                let got = base.patched(&d, &renamed, &keys, setting, &[]);
                assert_eq!(got, DeviceFacts::of(&renamed));
            }
        }
        assert!(patched > 100, "{patched}");
    }

    /// A key given twice (hand-built settings; parsed ones are numbered `#2`) counts by its
    /// first value, as a lookup does.
    #[test]
    fn first_value_of_a_key_counts() {
        let text = "00:01.0 PCI bridge [0604]: Intel Corporation Device [8086:1234]\n";
        let mut d = trainyard_pci::text::parse_str(text).devices.remove(0);
        d.fields = [
            ("Express.Type", "Root Port"),
            ("ACSCtl.ReqRedir", "-"),
            ("LnkSta.Width", "x8"),
            ("ACSCtl.ReqRedir", "+"),
            ("Express.Type", "Endpoint"),
            ("LnkSta.Width", "x16"),
        ]
        .into_iter()
        .collect();
        let f = DeviceFacts::of(&d);
        assert_eq!(f.port_type, Some(PortType::RootPort));
        assert_eq!(f.role, Role::RootPort);
        assert_eq!(f.acs_redirect, 0);
        assert_eq!(f.link.sta_width, Some(8));
    }

    #[test]
    fn facts_follow_the_device_not_its_address() {
        let text = "00:01.0 PCI bridge [0604]: Intel Corporation Device [8086:1234]\n";
        let dev = Arc::new(trainyard_pci::text::parse_str(text).devices.remove(0));
        let shared = Arc::clone(&dev);
        let first = of(&[Arc::clone(&dev)]);
        assert_eq!(first[0].role, dev.role());
        drop(shared);
        drop(dev);
        // Another device, possibly at the freed address: its own facts, not the cached ones.
        let text = "01:00.0 3D controller [0302]: NVIDIA Corporation GH100 [10de:2330]\n";
        let gpu = Arc::new(trainyard_pci::text::parse_str(text).devices.remove(0));
        let _keep = Arc::clone(&gpu);
        assert_eq!(of(&[Arc::clone(&gpu)])[0].role, gpu.role());
    }
}
