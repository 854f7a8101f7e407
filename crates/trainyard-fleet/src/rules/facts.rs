//! What the rules read of a device alone (its role, its AER status bits), computed once per
//! distinct device rather than once per node.
//!
//! Nodes read from a fleet share one parsed device wherever they repeat a device block byte
//! for byte (`sources`' block memo), so most devices a thread sees are ones it has judged
//! before. The AER rule alone reads 32 settings of every device and the role takes a few
//! more; for a shared device those answers are kept per thread, keyed by the device's
//! address in memory.
//!
//! A key is only trusted together with a [`Weak`] to the same device: the weak reference
//! keeps the allocation from being reused for another device while the entry exists, and
//! the device itself is alive while a node holds it. Memory is bounded by [`MAX_ENTRIES`]:
//! when full, entries of devices no node or memo holds any more are dropped, and if most
//! are still alive the cache starts over.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

use trainyard_pci::{Device, Role};

use super::aer::{self, AerBits};
use crate::fxhash::FxBuild;

/// Most devices remembered per thread: a few fleets' worth of distinct devices, about
/// 100 bytes each.
const MAX_ENTRIES: usize = 1 << 14;

/// What the rules need of a device on its own.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeviceFacts {
    /// [`Device::role`].
    pub role: Role,
    /// Its AER and Device Status error bits.
    pub aer: AerBits,
}

impl DeviceFacts {
    fn of(d: &Device) -> Self {
        Self {
            role: d.role(),
            aer: aer::bits(d),
        }
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
    use super::*;

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
