//! JSON snapshots (insta) of whole-machine dumps: any change to the model, the keys or the
//! values shows up as a reviewable diff (`cargo insta review`, or `INSTA_UPDATE=always`).

use std::path::Path;

use trainyard_pci::text::parse_str;
use trainyard_pci::{decode_config, read_hex_dumps};

fn read(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn parse_arm_n1sdp_with_plx_switch() {
    let out = parse_str(&read(
        "hex/linuxpci-2019-12-arm-n1sdp-plx-pex8749-vvv-xxx.txt",
    ));
    assert!(out.errors.is_empty());
    insta::assert_json_snapshot!(out.devices);
}

#[test]
fn parse_wrapped_connectx4_mail() {
    let out = parse_str(&read(
        "vvv/netdev-2019-05-hpe-connectx4lx-mlx5-vvv-wrapped.txt",
    ));
    assert!(out.errors.is_empty());
    insta::assert_json_snapshot!(out.devices);
}

#[test]
fn parse_gigabyte_g242_a100_whole_machine_fields() {
    // The whole machine as `--format fields` lines: compact enough to review.
    let out = parse_str(&read("gpu-servers/gigabyte-g242-z11-DEF4067C8E-vvnn.txt"));
    assert!(out.errors.is_empty());
    let mut lines = String::new();
    for d in &out.devices {
        for f in &d.fields {
            lines.push_str(&format!("{}\t{}\t{}\n", d.address, f.key, f.value));
        }
    }
    insta::assert_snapshot!(lines);
}

#[test]
fn decode_haswell_root_port_and_connectx3() {
    let (dumps, errors) = read_hex_dumps(&read(
        "hex/pciutils-cap-aer-root--haswell-e-rootport-connectx3pro.txt",
    ));
    assert!(errors.is_empty());
    let devices: Vec<_> = dumps
        .iter()
        .map(|d| {
            let mut dev = decode_config(d.address, &d.bytes).expect("decodes");
            // The raw bytes are already in the input file; keep the snapshot readable.
            dev.config = None;
            dev
        })
        .collect();
    insta::assert_json_snapshot!(devices);
}
