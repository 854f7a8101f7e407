//! InfiniBand and RoCE devices from `/sys/class/infiniband`.

use trainyard_snapshot::{IbDevice, IbPort};

use crate::fsutil::{pci_address_of_link, Fs, ReadError};
use crate::record::Recorder;

/// Every RDMA device with its firmware, GUID, PCI function and ports.
pub(crate) fn collect(fs: &Fs, rec: &mut Recorder) -> Vec<IbDevice> {
    let dir = fs.path("/sys/class/infiniband");
    let entries = match fs.list_dir(&dir) {
        Ok(e) => e,
        // No RDMA stack loaded (or no RDMA NIC): nothing to report, and the modules section
        // says whether ib_core is loaded.
        Err(ReadError::NotFound) => return Vec::new(),
        Err(e) => {
            rec.miss("infiniband", format_args!("/sys/class/infiniband: {e}"));
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(entries.len());
    for (name, path) in entries {
        let mut text = |file: &str| match fs.read_opt(&path.join(file)) {
            Ok(v) => v,
            Err(e) => {
                rec.miss(format!("infiniband {name} {file}"), e);
                None
            }
        };
        let fw_ver = text("fw_ver");
        let node_guid = text("node_guid");
        let pci_address = match pci_address_of_link(fs, &path.join("device")) {
            Ok(a) => a,
            Err(e) => {
                rec.miss(format!("infiniband {name} device"), e);
                None
            }
        };
        let ports = ports(fs, &name, &path.join("ports"), rec);
        out.push(IbDevice {
            name,
            pci_address,
            fw_ver,
            node_guid,
            ports,
        });
    }
    out
}

/// `ports/N/{state,phys_state,rate,link_layer}`, in port order.
fn ports(fs: &Fs, dev: &str, dir: &std::path::Path, rec: &mut Recorder) -> Vec<IbPort> {
    let entries = match fs.list_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            rec.miss(format!("infiniband {dev} ports"), e);
            return Vec::new();
        }
    };
    let mut ports = Vec::new();
    for (name, path) in entries {
        let Ok(port) = name.parse::<u32>() else {
            continue;
        };
        let mut text = |file: &str| match fs.read_opt(&path.join(file)) {
            Ok(v) => v,
            Err(e) => {
                rec.miss(format!("infiniband {dev} port {port} {file}"), e);
                None
            }
        };
        ports.push(IbPort {
            port,
            state: text("state"),
            phys_state: text("phys_state"),
            rate: text("rate"),
            link_layer: text("link_layer"),
        });
    }
    ports.sort_by_key(|p| p.port);
    ports
}
