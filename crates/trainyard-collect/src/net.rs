//! Network interfaces from `/sys/class/net`.

use trainyard_snapshot::NetInterface;

use crate::fsutil::{pci_address_of_link, Fs, ReadError};
use crate::record::Recorder;

/// Every interface with MTU, state and the PCI function behind it (none for virtual ones).
pub(crate) fn collect(fs: &Fs, rec: &mut Recorder) -> Vec<NetInterface> {
    let dir = fs.path("/sys/class/net");
    let entries = match fs.list_dir(&dir) {
        Ok(e) => e,
        Err(e) => {
            rec.miss("net", format_args!("/sys/class/net: {e}"));
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(entries.len());
    for (name, path) in entries {
        // `bonding_masters` is a file among the interface directories.
        if !path.is_dir() {
            continue;
        }
        let mtu = match fs.read_opt(&path.join("mtu")) {
            Ok(Some(t)) => match t.parse::<u32>() {
                Ok(m) => Some(m),
                Err(_) => {
                    rec.miss(format!("net {name} mtu"), ReadError::unparsable(&t));
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                rec.miss(format!("net {name} mtu"), e);
                None
            }
        };
        let operstate = match fs.read_opt(&path.join("operstate")) {
            Ok(v) => v,
            Err(e) => {
                rec.miss(format!("net {name} operstate"), e);
                None
            }
        };
        let pci_address = match pci_address_of_link(fs, &path.join("device")) {
            Ok(a) => a,
            Err(e) => {
                rec.miss(format!("net {name} device"), e);
                None
            }
        };
        out.push(NetInterface {
            name,
            mtu,
            operstate,
            pci_address,
        });
    }
    out
}
