//! PCIe errors the device has latched (AER status, Device Status) or the kernel has counted
//! (`aer_dev_*` in sysfs), ranked by kind.
//!
//! Uncorrectable errors (data link protocol, poisoned or malformed TLPs, completion timeouts,
//! surprise down) lose or corrupt transactions: NCCL hangs, GPUs fall off the bus. Correctable
//! errors (bad TLP/DLLP, receiver errors, replay rollovers) are retried by the link layer but
//! show a marginal link and cost bandwidth; growing counts precede link failures (DCGM's
//! PCIe plugin counts replays for this reason). Unsupported Request bits alone are noise on
//! most healthy machines: firmware and the kernel probe registers and absent functions during
//! enumeration, and each probe leaves `DevSta: UnsupReq+` (and, as an advisory non-fatal error,
//! `CESta: AdvNonFatalErr+`, `DevSta: CorrErr+`). They are reported once per node as info.

use std::collections::BTreeMap;

use trainyard_pci::Device;

use super::context::Context;
use super::{Output, RuleInfo, Severity};

/// Uncorrectable errors.
pub(crate) const UNCORRECTABLE: RuleInfo = RuleInfo {
    id: "aer-uncorrectable",
    severity: Severity::Error,
    title: "Uncorrectable PCIe errors latched or counted",
    source: "PCIe Base Spec §6.2 (error classes); pciutils (UESta/DevSta); Linux Documentation/ABI/testing/sysfs-bus-pci-devices-aer_stats (aer_dev_fatal, aer_dev_nonfatal)",
};

/// Correctable errors.
pub(crate) const CORRECTABLE: RuleInfo = RuleInfo {
    id: "aer-correctable",
    severity: Severity::Warning,
    title: "Correctable PCIe errors latched or counted",
    source: "pciutils (CESta/DevSta); Linux Documentation/ABI/testing/sysfs-bus-pci-devices-aer_stats (aer_dev_correctable); NVIDIA DCGM PCIe plugin (replay counts)",
};

/// Unsupported Request and advisory bits only: usually enumeration noise.
pub(crate) const UNSUPPORTED_REQUEST: RuleInfo = RuleInfo {
    id: "aer-unsupported-request",
    severity: Severity::Info,
    title: "Only Unsupported Request / advisory error bits set (usually enumeration noise)",
    source: "PCIe Base Spec §6.2.3.2.4 (Advisory Non-Fatal errors); pciutils (DevSta.UnsupReq)",
};

/// Uncorrectable status bits that are real faults (all of `UESta` except `UnsupReq`).
const UE_REAL: &[&str] = &[
    "UESta.DLP",
    "UESta.SDES",
    "UESta.TLP",
    "UESta.FCP",
    "UESta.CmpltTO",
    "UESta.CmpltAbrt",
    "UESta.UnxCmplt",
    "UESta.RxOF",
    "UESta.MalfTLP",
    "UESta.ECRC",
    "UESta.ACSViol",
    "UESta.UncorrIntErr",
    "UESta.BlockedTLP",
    "UESta.AtomicOpBlocked",
    "UESta.TLPBlockedErr",
    "UESta.PoisonTLPBlocked",
    "UESta.DMWrReqBlocked",
    "UESta.IDECheck",
    "UESta.MisIDETLP",
    "UESta.PCRC_CHECK",
    "UESta.TLPXlatBlocked",
];

/// Correctable status bits that are real link trouble (all of `CESta` except the advisory).
const CE_REAL: &[&str] = &[
    "CESta.RxErr",
    "CESta.BadTLP",
    "CESta.BadDLLP",
    "CESta.Rollover",
    "CESta.Timeout",
    "CESta.CorrIntErr",
    "CESta.HeaderOF",
];

/// Bits that, alone, are enumeration noise.
const NOISE: &[&str] = &["DevSta.UnsupReq", "UESta.UnsupReq", "CESta.AdvNonFatalErr"];

pub(crate) fn check(ctx: &Context, out: &mut Output) {
    let mut noise_devices = Vec::new();
    for i in 0..ctx.devices().len() {
        let bits = ctx.facts[i].aer;
        // Nothing latched and no sysfs counters to read: nothing to say about this device
        // (most devices; the rest below would find the same, at more cost).
        if bits.is_clear() && !ctx.has_snapshot() {
            continue;
        }
        let d = ctx.dev(i);
        let counters = counters(ctx, d);
        let ue = select(UE_REAL, bits.ue);
        let ce = select(CE_REAL, bits.ce);
        let has_aer = bits.has_aer;
        // Device Status summarises: NonFatal/Fatal come with a UESta bit when AER is present;
        // without AER they are all we have. CorrErr is also set by advisory non-fatal errors.
        let ds_fatal = bits.ds_fatal;
        let ds_nonfatal = bits.ds_nonfatal && (!has_aer || !ue.is_empty());
        let ds_corr = bits.ds_corr && !has_aer;
        let uncorrectable = !ue.is_empty() || ds_fatal || ds_nonfatal || counters.uncorrectable();
        let correctable = !ce.is_empty() || ds_corr || counters.correctable();
        if uncorrectable && !ctx.quotes(&UNCORRECTABLE, Severity::Error, Some(i)) {
            out.findings
                .push(ctx.counted(&UNCORRECTABLE, Severity::Error, Some(i)));
        } else if uncorrectable {
            let mut keys: Vec<&str> = ue.clone();
            keys.extend(["DevSta.FatalErr", "DevSta.NonFatalErr"]);
            let mut f = ctx.finding(&UNCORRECTABLE, Severity::Error, i, &keys);
            counters.add_to(&mut f.keys, &["aer_dev_fatal", "aer_dev_nonfatal"]);
            f.summary = format!(
                "{} reports uncorrectable PCIe errors: {}",
                ctx.describe(i),
                names(&f.keys)
            );
            f.why = "Uncorrectable errors lose or corrupt transactions on this link: DMA \
                     fails, NCCL hangs, and devices drop off the bus. The device or the link \
                     (slot, riser, cable, retimer) is faulty, or a peer sent a request it \
                     could not handle."
                .into();
            f.fix = fix_text(d);
            out.findings.push(f);
        }
        if correctable && !ctx.quotes(&CORRECTABLE, Severity::Warning, Some(i)) {
            out.findings
                .push(ctx.counted(&CORRECTABLE, Severity::Warning, Some(i)));
        } else if correctable {
            let mut keys: Vec<&str> = ce.clone();
            keys.push("DevSta.CorrErr");
            let mut f = ctx.finding(&CORRECTABLE, Severity::Warning, i, &keys);
            counters.add_to(&mut f.keys, &["aer_dev_correctable"]);
            f.summary = format!(
                "{} reports correctable PCIe errors: {}",
                ctx.describe(i),
                names(&f.keys)
            );
            f.why = "The link layer retried these transfers, so no data was lost, but the link \
                     is marginal: replays cost bandwidth and growing counts precede link \
                     failures."
                .into();
            f.fix = fix_text(d);
            out.findings.push(f);
        }
        if !uncorrectable && !correctable && !select(NOISE, bits.noise).is_empty() {
            noise_devices.push(i);
        }
    }
    if !noise_devices.is_empty() && !ctx.quotes(&UNSUPPORTED_REQUEST, Severity::Info, None) {
        out.findings
            .push(ctx.counted(&UNSUPPORTED_REQUEST, Severity::Info, None));
    } else if !noise_devices.is_empty() {
        let mut noise_keys = BTreeMap::new();
        for &i in &noise_devices {
            for k in select(NOISE, ctx.facts[i].aer.noise) {
                noise_keys.insert(format!("{} {k}", ctx.dev(i).address), "+".to_string());
            }
        }
        let mut f = ctx.platform_finding(&UNSUPPORTED_REQUEST, Severity::Info);
        f.keys = noise_keys;
        f.summary = format!(
            "{} devices show only Unsupported Request / advisory error bits",
            noise_devices.len()
        );
        f.why = "Firmware and the kernel probe absent functions and registers during \
                 enumeration; each probe latches Unsupported Request (and an advisory \
                 non-fatal error). Healthy machines show this on many devices, so it is noise \
                 unless it appears while jobs run."
            .into();
        f.fix = "Nothing by default. To see whether it recurs, clear the bits (`setpci -s BDF \
                 CAP_EXP+0xa.w=000f`) and check again after a job."
            .into();
        f.related = ctx.addresses(&noise_devices);
        out.findings.push(f);
    }
    if !ctx.has_snapshot() {
        out.unchecked(
            &UNCORRECTABLE,
            "AER error counters since boot (aer_dev_correctable, aer_dev_nonfatal, aer_dev_fatal)",
            format!(
                "{} shows only the status bits latched now, and the kernel's AER driver \
                 clears those after handling an error; the counters are in sysfs: use a \
                 trainyard snapshot",
                ctx.input_name()
            ),
        );
    }
}

/// A device's error status bits, as masks over [`UE_REAL`], [`CE_REAL`] and [`NOISE`]: they
/// depend on the device alone, so they are read once per distinct device (see
/// [`facts`](super::facts)).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct AerBits {
    ue: u32,
    ce: u32,
    noise: u32,
    has_aer: bool,
    ds_fatal: bool,
    ds_nonfatal: bool,
    ds_corr: bool,
}

impl AerBits {
    /// No error bit of any kind set.
    fn is_clear(&self) -> bool {
        self.ue == 0
            && self.ce == 0
            && self.noise == 0
            && !self.ds_fatal
            && !self.ds_nonfatal
            && !self.ds_corr
    }
}

/// Device Status bits read besides the AER registers: fatal, non-fatal, correctable.
const DEV_STA: &[&str] = &["DevSta.FatalErr", "DevSta.NonFatalErr", "DevSta.CorrErr"];

/// The error status settings of a device, gathered setting by setting (see
/// [`facts`](super::facts)): the same as looking each key up, first occurrence only.
#[derive(Default)]
pub(crate) struct Flags {
    ue: super::facts::Flags,
    ce: super::facts::Flags,
    noise: super::facts::Flags,
    dev_sta: super::facts::Flags,
    /// `UESta.DLP` present: the device has an AER capability lspci could read.
    has_aer: bool,
}

impl Flags {
    /// Records one setting (any key; those that are not error bits are ignored); returns
    /// whether its key is one the bits come from.
    #[inline]
    pub(crate) fn record(&mut self, key: &str, value: &str) -> bool {
        let known = if key.starts_with("UESta.") {
            self.has_aer |= key == "UESta.DLP";
            self.ue.record(UE_REAL, key, value)
        } else if key.starts_with("CESta.") {
            self.ce.record(CE_REAL, key, value)
        } else if key.starts_with("DevSta.") {
            self.dev_sta.record(DEV_STA, key, value)
        } else {
            return false;
        };
        self.noise.record(NOISE, key, value) || known
    }

    /// The bits recorded.
    pub(crate) fn bits(&self) -> AerBits {
        AerBits {
            ue: self.ue.on,
            ce: self.ce.on,
            noise: self.noise.on,
            has_aer: self.has_aer,
            ds_fatal: self.dev_sta.on & 1 != 0,
            ds_nonfatal: self.dev_sta.on & 2 != 0,
            ds_corr: self.dev_sta.on & 4 != 0,
        }
    }
}

// The masks of `AerBits` hold one bit per key.
const _: () = assert!(UE_REAL.len() <= 32 && CE_REAL.len() <= 32 && NOISE.len() <= 32);

/// The keys whose bit is set in `mask`, in order.
fn select<'k>(keys: &[&'k str], mask: u32) -> Vec<&'k str> {
    keys.iter()
        .enumerate()
        .filter(|(i, _)| mask & 1 << i != 0)
        .map(|(_, k)| *k)
        .collect()
}

fn names(keys: &BTreeMap<String, String>) -> String {
    keys.iter()
        .filter(|(_, v)| v.as_str() != "-" && v.as_str() != "0")
        .map(|(k, v)| {
            if v == "+" {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn fix_text(d: &Device) -> String {
    format!(
        "Read dmesg for AER messages naming {} to see which errors recur; reseat the card and \
         its riser/cable, update device firmware, and move the card to another slot to tell \
         card from slot. Status bits are sticky: clear them (`setpci -s {} ECAP_AER+0x4.l=ffffffff` \
         for UESta, `ECAP_AER+0x10.l=ffffffff` for CESta) and see whether they come back.",
        d.address, d.address
    )
}

/// The kernel's AER counters for a device (snapshot sysfs), non-zero entries only.
struct Counters(BTreeMap<String, u64>);

fn counters(ctx: &Context, d: &Device) -> Counters {
    let mut out = BTreeMap::new();
    if let Some(sysfs) = ctx.node.sysfs(d) {
        for (file, entries) in &sysfs.aer {
            // Root port totals repeat their children's errors; the children carry them.
            if !file.starts_with("aer_dev_") {
                continue;
            }
            for (name, &count) in entries {
                if count > 0 {
                    out.insert(format!("{file}.{name}"), count);
                }
            }
        }
    }
    Counters(out)
}

impl Counters {
    fn any(&self, file: &str) -> bool {
        self.0.keys().any(|k| k.starts_with(file))
    }

    fn uncorrectable(&self) -> bool {
        self.any("aer_dev_fatal.") || self.any("aer_dev_nonfatal.")
    }

    fn correctable(&self) -> bool {
        self.any("aer_dev_correctable.")
    }

    fn add_to(&self, keys: &mut BTreeMap<String, String>, files: &[&str]) {
        for (k, v) in &self.0 {
            if files.iter().any(|f| k.starts_with(&format!("{f}."))) {
                keys.insert(k.clone(), v.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(d: &Device, k: &str) -> bool {
        d.field(k) == Some("+")
    }

    fn mask(d: &Device, keys: &[&str]) -> u32 {
        keys.iter()
            .enumerate()
            .filter(|(_, k)| on(d, k))
            .fold(0, |m, (i, _)| m | 1 << i)
    }

    /// The bits gathered setting by setting are those of looking every key up, on devices
    /// with and without AER errors latched.
    #[test]
    fn flags_read_what_lookups_read() {
        let text = include_str!(
            "../../../../tests/data/faulty/linuxpci-2019-11-kabylake-laptop-pcie-aer-error-vvv.txt"
        );
        let mut latched = 0;
        for mut d in trainyard_pci::text::parse_str(text).devices {
            for set in [false, true] {
                if set {
                    // Every error bit on, and a few off again, so each key's bit is checked.
                    let fields: Vec<(String, String)> = d
                        .fields
                        .iter()
                        .map(|f| {
                            let k = f.key.as_str();
                            let flip = ["UESta.", "CESta.", "DevSta."]
                                .iter()
                                .any(|p| k.starts_with(p))
                                && k.len() % 3 != 0;
                            let v = if flip { "+" } else { f.value.as_str() };
                            (k.to_string(), v.to_string())
                        })
                        .collect();
                    d.fields = fields.into_iter().collect();
                }
                let mut flags = Flags::default();
                for f in d.fields.iter() {
                    flags.record(f.key.as_str(), f.value.as_str());
                }
                let b = flags.bits();
                assert_eq!(b.ue, mask(&d, UE_REAL));
                assert_eq!(b.ce, mask(&d, CE_REAL));
                assert_eq!(b.noise, mask(&d, NOISE));
                assert_eq!(b.has_aer, d.field("UESta.DLP").is_some());
                assert_eq!(b.ds_fatal, on(&d, "DevSta.FatalErr"));
                assert_eq!(b.ds_nonfatal, on(&d, "DevSta.NonFatalErr"));
                assert_eq!(b.ds_corr, on(&d, "DevSta.CorrErr"));
                latched += usize::from(!b.is_clear());
            }
        }
        assert!(latched > 3, "{latched}");
    }
}
