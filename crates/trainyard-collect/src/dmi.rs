//! DMI (SMBIOS) identity from `/sys/class/dmi/id`.

use trainyard_snapshot::Dmi;

use crate::fsutil::Fs;
use crate::record::Recorder;

/// BIOS, board and system identity. Every file read here is world-readable on Linux (only
/// serials and the UUID are root-only, and the snapshot does not keep those), but a
/// hardened kernel or container may still refuse them: each failure is recorded.
pub(crate) fn collect(fs: &Fs, rec: &mut Recorder) -> Dmi {
    let dir = fs.path("/sys/class/dmi/id");
    if !fs.exists(&dir) {
        // Firecracker and some arm64 boards have no SMBIOS tables at all: one entry says so
        // rather than seven.
        rec.miss(
            "dmi",
            "not present: /sys/class/dmi/id does not exist (no SMBIOS tables, e.g. a microVM or an arm64 board without ACPI)",
        );
        return Dmi::default();
    }
    let mut read = |name: &str| -> Option<String> {
        match fs.read_text(&dir.join(name)) {
            Ok(t) => Some(t),
            Err(e) => {
                rec.miss(format!("dmi.{name}"), e);
                None
            }
        }
    };
    Dmi {
        bios_vendor: read("bios_vendor"),
        bios_version: read("bios_version"),
        bios_date: read("bios_date"),
        board_vendor: read("board_vendor"),
        board_name: read("board_name"),
        sys_vendor: read("sys_vendor"),
        product_name: read("product_name"),
    }
}
