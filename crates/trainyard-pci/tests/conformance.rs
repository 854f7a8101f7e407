//! Conformance against pciutils, the reference decoder.
//!
//! For every hex dump in `tests/data/hex/` and the synthetic dumps in
//! `crates/trainyard-pci/tests/data/synthetic/`, run the installed `lspci -F FILE -vvv`,
//! parse its text with our parser, decode the same bytes with our decoder, and compare the
//! flat settings key by key. Coverage is the share of pciutils' settings we reproduce
//! exactly. It must be 100% for the header, PCI Express, ACS and AER settings and at least
//! 95% overall; the table is printed either way (`cargo test --test conformance -- --nocapture`).

use std::collections::BTreeMap;

mod common;
use common::{hex_inputs, lspci_vvv};

use trainyard_pci::device::Device;
use trainyard_pci::text::parse_str;
use trainyard_pci::{decode_config, read_hex_dumps};

/// The category a setting is counted under: `header`, or the capability's tag.
fn settings_by_category(dev: &Device) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    let header_only = Device {
        header: dev.header.clone(),
        ..Device::default()
    };
    for f in trainyard_pci::fields::device_fields(&header_only) {
        out.insert(f.key, ("header".to_string(), f.value));
    }
    for cap in &dev.capabilities {
        let one = Device {
            capabilities: vec![cap.clone()],
            ..Device::default()
        };
        for f in trainyard_pci::fields::device_fields(&one) {
            out.entry(f.key).or_insert((cap.tag.clone(), f.value));
        }
    }
    out
}

#[derive(Default)]
struct Tally {
    total: usize,
    matched: usize,
}

#[test]
fn decoder_reproduces_pciutils_settings() {
    let mut by_category: BTreeMap<String, Tally> = BTreeMap::new();
    let mut mismatches = Vec::new();
    let mut devices = 0;
    for file in hex_inputs("") {
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let oracle = parse_str(&lspci_vvv(&file));
        assert!(oracle.errors.is_empty(), "{name}: {:?}", oracle.errors);
        let text = std::fs::read_to_string(&file).expect("hex dump is text");
        let (dumps, errors) = read_hex_dumps(&text);
        assert!(errors.is_empty(), "{name}: {errors:?}");
        assert_eq!(dumps.len(), oracle.devices.len(), "{name}: device count");
        for (dump, theirs) in dumps.iter().zip(&oracle.devices) {
            assert_eq!(dump.address, theirs.address, "{name}: device order");
            devices += 1;
            let ours = decode_config(dump.address, &dump.bytes).expect("decodes");
            // Keys must be identical whichever way they are computed: per category here,
            // per device in the product.
            let ours_flat: BTreeMap<&str, &str> = ours
                .fields
                .iter()
                .map(|f| (f.key.as_str(), f.value.as_str()))
                .collect();
            for (key, (category, value)) in settings_by_category(theirs) {
                let t = by_category.entry(category.clone()).or_default();
                t.total += 1;
                match ours_flat.get(key.as_str()) {
                    Some(v) if *v == value => t.matched += 1,
                    other => mismatches.push(format!(
                        "{name} {} [{category}] {key}: pciutils {value:?}, ours {other:?}",
                        dump.address
                    )),
                }
            }
        }
    }

    let (mut total, mut matched) = (0, 0);
    println!("\nconformance over {devices} devices:");
    println!(
        "{:<16} {:>8} {:>8} {:>8}",
        "category", "fields", "exact", "share"
    );
    for (cat, t) in &by_category {
        total += t.total;
        matched += t.matched;
        println!(
            "{cat:<16} {:>8} {:>8} {:>7.2}%",
            t.total,
            t.matched,
            100.0 * t.matched as f64 / t.total.max(1) as f64
        );
    }
    let overall = 100.0 * matched as f64 / total.max(1) as f64;
    println!("{:<16} {total:>8} {matched:>8} {overall:>7.2}%", "overall");
    for m in mismatches
        .iter()
        .filter(|m| !m.contains("[DVSEC]"))
        .take(40)
    {
        println!("  {m}");
    }

    for must in ["header", "Express", "ACS", "AER"] {
        let t = by_category
            .get(must)
            .unwrap_or_else(|| panic!("no {must} settings in the corpus"));
        assert_eq!(
            t.matched, t.total,
            "{must} settings must match pciutils exactly"
        );
    }
    assert!(overall >= 95.0, "overall coverage {overall:.2}% < 95%");
}
