//! Fake `/sys` + `/proc` trees for tests and benchmarks (feature `fixture`).
//!
//! Trees are built from real config-space dumps (`lspci -xxx`/`-xxxx` text, read with
//! [`trainyard_pci::read_hex_dumps`]), so the collector and everything downstream of it are
//! exercised on bytes real hardware produced. The sysfs attributes that mirror config
//! registers (link speed and width) are derived from the same bytes, as the kernel does.
//!
//! This module writes files; it is test support, compiled only with the `fixture` feature
//! and never used by the collector itself.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use trainyard_pci::{read_hex_dumps, PciAddress};

/// A fake root directory being filled.
#[derive(Debug, Clone)]
pub struct FakeTree {
    root: PathBuf,
}

/// One PCI function to place in a [`FakeTree`].
#[derive(Debug, Clone, Default)]
pub struct FakePci {
    /// Address.
    pub address: PciAddress,
    /// Config bytes, written as the `config` file.
    pub config: Vec<u8>,
    /// `driver` link target name.
    pub driver: Option<String>,
    /// `iommu_group` link target (the group directory and its `type` are created too).
    pub iommu_group: Option<(u32, String)>,
    /// `numa_node`.
    pub numa_node: Option<i32>,
    /// `local_cpulist`.
    pub local_cpulist: Option<String>,
    /// Extra attribute files (`aer_dev_correctable` → `RxErr 0\n...`), written verbatim.
    pub attrs: Vec<(String, String)>,
}

impl FakePci {
    /// A function with the given bytes, numa node -1 and nothing else bound.
    pub fn new(address: PciAddress, config: Vec<u8>) -> Self {
        Self {
            address,
            config,
            numa_node: Some(-1),
            ..Self::default()
        }
    }
}

/// Link attributes as sysfs prints them, from a config space's PCI Express capability:
/// `(current_link_speed, current_link_width, max_link_speed, max_link_width)`.
pub fn express_link_attrs(config: &[u8]) -> Option<(String, String, String, String)> {
    let cap = find_capability(config, 0x10)?;
    let u16_at = |o: usize| {
        config
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |o: usize| {
        config
            .get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let lnkcap = u32_at(cap + 0x0c)?;
    let lnksta = u16_at(cap + 0x12)?;
    Some((
        speed_text(u32::from(lnksta) & 0xf),
        ((lnksta >> 4) & 0x3f).to_string(),
        speed_text(lnkcap & 0xf),
        ((lnkcap >> 4) & 0x3f).to_string(),
    ))
}

/// sysfs's speed strings (`drivers/pci/pci-sysfs.c`).
fn speed_text(code: u32) -> String {
    match code {
        1 => "2.5 GT/s PCIe",
        2 => "5.0 GT/s PCIe",
        3 => "8.0 GT/s PCIe",
        4 => "16.0 GT/s PCIe",
        5 => "32.0 GT/s PCIe",
        6 => "64.0 GT/s PCIe",
        _ => "Unknown",
    }
    .to_string()
}

/// Offset of standard capability `id`, walking the list with a loop guard.
fn find_capability(config: &[u8], id: u8) -> Option<usize> {
    // Status bit 4: capability list present.
    if config.get(0x06)? & 0x10 == 0 {
        return None;
    }
    let mut ptr = usize::from(*config.get(0x34)? & 0xfc);
    for _ in 0..48 {
        if ptr < 0x40 {
            return None;
        }
        if *config.get(ptr)? == id {
            return Some(ptr);
        }
        ptr = usize::from(*config.get(ptr + 1)? & 0xfc);
    }
    None
}

impl FakeTree {
    /// Starts a tree at `root` (created if needed) with the directories every Linux host has.
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Self> {
        let tree = Self { root: root.into() };
        for d in [
            "sys/bus/pci/devices",
            "sys/class/net",
            "sys/class/iommu",
            "sys/kernel/iommu_groups",
            "sys/devices/system/node",
            "sys/module",
            "proc/sys/kernel",
        ] {
            fs::create_dir_all(tree.root.join(d))?;
        }
        Ok(tree)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes `ROOT/rel`, creating parent directories.
    pub fn file(&self, rel: &str, contents: impl AsRef<[u8]>) -> io::Result<()> {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(path, contents)
    }

    /// Makes `ROOT/rel` a symlink to `target` (relative targets, as sysfs uses).
    pub fn symlink(&self, rel: &str, target: &str) -> io::Result<()> {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let _ = fs::remove_file(&path);
        std::os::unix::fs::symlink(target, path)
    }

    /// `proc/sys/kernel/{hostname,osrelease}`, `proc/cmdline`.
    pub fn kernel(&self, host: &str, release: &str, cmdline: &str) -> io::Result<()> {
        self.file("proc/sys/kernel/hostname", format!("{host}\n"))?;
        self.file("proc/sys/kernel/osrelease", format!("{release}\n"))?;
        self.file("proc/cmdline", format!("{cmdline}\n"))
    }

    /// `sys/class/dmi/id/NAME` files.
    pub fn dmi(&self, entries: &[(&str, &str)]) -> io::Result<()> {
        fs::create_dir_all(self.root.join("sys/class/dmi/id"))?;
        for (name, value) in entries {
            self.file(&format!("sys/class/dmi/id/{name}"), format!("{value}\n"))?;
        }
        Ok(())
    }

    /// `proc/cpuinfo` with `cpus` processors of `model`, and NUMA nodes with cpulists.
    pub fn cpus(&self, model: &str, cpus: u32, numa: &[&str]) -> io::Result<()> {
        let mut info = String::new();
        for i in 0..cpus {
            // Enough of a real block that the file has a realistic size for benchmarks.
            info.push_str(&format!(
                "processor\t: {i}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n\
                 model name\t: {model}\nstepping\t: 8\ncpu MHz\t\t: 2000.000\ncache size\t: 107520 KB\n\
                 physical id\t: {}\ncore id\t\t: {}\ncpu cores\t: {}\nflags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc avx512f avx512dq amx_tile amx_int8 amx_bf16\n\
                 bogomips\t: 4000.00\n\n",
                i * numa.len().max(1) as u32 / cpus.max(1),
                i % 56,
                cpus / numa.len().max(1) as u32,
            ));
        }
        self.file("proc/cpuinfo", info)?;
        for (n, list) in numa.iter().enumerate() {
            self.file(
                &format!("sys/devices/system/node/node{n}/cpulist"),
                format!("{list}\n"),
            )?;
        }
        Ok(())
    }

    /// `proc/modules` listing `loaded`, and `sys/module/NAME` for each.
    pub fn modules(&self, loaded: &[&str]) -> io::Result<()> {
        let mut text = String::new();
        for m in loaded {
            text.push_str(&format!("{m} 1048576 0 - Live 0x0000000000000000\n"));
            fs::create_dir_all(self.root.join(format!("sys/module/{m}")))?;
        }
        self.file("proc/modules", text)
    }

    /// Directory of a PCI function under `sys/devices` (relative to the root).
    fn device_dir(address: &PciAddress) -> String {
        // Flat under the host bridge: the collector follows links by name, not by nesting.
        format!("sys/devices/pci{:04x}:00/{address}", address.domain)
    }

    /// A PCI function: `config`, attributes derived from it, and the given bindings.
    pub fn pci(&self, f: &FakePci) -> io::Result<()> {
        let dir = Self::device_dir(&f.address);
        self.file(&format!("{dir}/config"), &f.config)?;
        let c = &f.config;
        if c.len() >= 16 {
            let hex16 = |o: usize| format!("0x{:04x}\n", u16::from_le_bytes([c[o], c[o + 1]]));
            self.file(&format!("{dir}/vendor"), hex16(0))?;
            self.file(&format!("{dir}/device"), hex16(2))?;
            self.file(
                &format!("{dir}/class"),
                format!("0x{:02x}{:02x}{:02x}\n", c[0x0b], c[0x0a], c[0x09]),
            )?;
        }
        if let Some((cs, cw, ms, mw)) = express_link_attrs(c) {
            self.file(&format!("{dir}/current_link_speed"), format!("{cs}\n"))?;
            self.file(&format!("{dir}/current_link_width"), format!("{cw}\n"))?;
            self.file(&format!("{dir}/max_link_speed"), format!("{ms}\n"))?;
            self.file(&format!("{dir}/max_link_width"), format!("{mw}\n"))?;
        }
        if let Some(n) = f.numa_node {
            self.file(&format!("{dir}/numa_node"), format!("{n}\n"))?;
        }
        if let Some(l) = &f.local_cpulist {
            self.file(&format!("{dir}/local_cpulist"), format!("{l}\n"))?;
        }
        for (name, value) in &f.attrs {
            self.file(&format!("{dir}/{name}"), value)?;
        }
        if let Some(d) = &f.driver {
            self.symlink(
                &format!("{dir}/driver"),
                &format!("../../../bus/pci/drivers/{d}"),
            )?;
        }
        if let Some((g, kind)) = &f.iommu_group {
            self.file(
                &format!("sys/kernel/iommu_groups/{g}/type"),
                format!("{kind}\n"),
            )?;
            self.symlink(
                &format!("sys/kernel/iommu_groups/{g}/devices/{}", f.address),
                &format!(
                    "../../../../devices/pci{:04x}:00/{}",
                    f.address.domain, f.address
                ),
            )?;
            self.symlink(
                &format!("{dir}/iommu_group"),
                &format!("../../../kernel/iommu_groups/{g}"),
            )?;
        }
        self.symlink(
            &format!("sys/bus/pci/devices/{}", f.address),
            &format!(
                "../../../devices/pci{:04x}:00/{}",
                f.address.domain, f.address
            ),
        )
    }

    /// Every device of a hex dump text (`lspci -xxx`/`-xxxx`), with default bindings.
    /// Returns the functions written.
    pub fn pci_from_hex_dump(&self, text: &str) -> io::Result<Vec<FakePci>> {
        let (dumps, errors) = read_hex_dumps(text);
        if let Some(e) = errors.first() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
        }
        let mut out = Vec::with_capacity(dumps.len());
        for d in dumps {
            let f = FakePci::new(d.address, d.bytes);
            self.pci(&f)?;
            out.push(f);
        }
        Ok(out)
    }

    /// An IB/RoCE device on PCI function `pci` with one port per entry of `ports`
    /// (`(state, phys_state, rate, link_layer)`).
    pub fn ib(
        &self,
        name: &str,
        pci: &PciAddress,
        fw_ver: &str,
        node_guid: &str,
        ports: &[(&str, &str, &str, &str)],
    ) -> io::Result<()> {
        let dir = format!("sys/class/infiniband/{name}");
        self.file(&format!("{dir}/fw_ver"), format!("{fw_ver}\n"))?;
        self.file(&format!("{dir}/node_guid"), format!("{node_guid}\n"))?;
        self.symlink(
            &format!("{dir}/device"),
            &format!("../../../devices/pci{:04x}:00/{pci}", pci.domain),
        )?;
        for (i, (state, phys, rate, layer)) in ports.iter().enumerate() {
            let p = format!("{dir}/ports/{}", i + 1);
            self.file(&format!("{p}/state"), format!("{state}\n"))?;
            self.file(&format!("{p}/phys_state"), format!("{phys}\n"))?;
            self.file(&format!("{p}/rate"), format!("{rate}\n"))?;
            self.file(&format!("{p}/link_layer"), format!("{layer}\n"))?;
        }
        Ok(())
    }

    /// A network interface; `pci` links it to a function, through an intermediate bus
    /// directory (`virtio2`) when `via` is given, as virtio-net does.
    pub fn net(
        &self,
        name: &str,
        mtu: u32,
        operstate: &str,
        pci: Option<&PciAddress>,
        via: Option<&str>,
    ) -> io::Result<()> {
        let dir = format!("sys/class/net/{name}");
        self.file(&format!("{dir}/mtu"), format!("{mtu}\n"))?;
        self.file(&format!("{dir}/operstate"), format!("{operstate}\n"))?;
        if let Some(a) = pci {
            let mut target = format!("../../../devices/pci{:04x}:00/{a}", a.domain);
            if let Some(v) = via {
                fs::create_dir_all(self.root.join(format!("{}/{v}", Self::device_dir(a))))?;
                target = format!("{target}/{v}");
            }
            self.symlink(&format!("{dir}/device"), &target)?;
        }
        Ok(())
    }
}

/// The real dumps the server fixture replicates (from the corpus; see
/// `tests/data/SOURCES.tsv`).
mod dumps {
    /// NVIDIA GP108M (MX150) behind a Sunrise Point root port, 4096 bytes each.
    pub const MX150: &str = include_str!(
        "../../../tests/data/hex/pciutils-cap-exp-lnkcap2--laptop-nvidia-mx150-thunderbolt3.txt"
    );
    /// Haswell-E root port and a ConnectX-3 Pro, 4096 bytes each.
    pub const CX3PRO: &str = include_str!(
        "../../../tests/data/hex/pciutils-cap-aer-root--haswell-e-rootport-connectx3pro.txt"
    );
    /// PLX PEX8749 switch (upstream port and downstream ports), 256 bytes each.
    pub const PLX: &str =
        include_str!("../../../tests/data/hex/linuxpci-2019-12-arm-n1sdp-plx-pex8749-vvv-xxx.txt");
}

/// What [`gpu_server`] built.
#[derive(Debug, Clone, Default)]
pub struct ServerLayout {
    /// Root ports.
    pub root_ports: Vec<PciAddress>,
    /// Switch upstream ports.
    pub switch_upstream: Vec<PciAddress>,
    /// Switch downstream ports.
    pub switch_downstream: Vec<PciAddress>,
    /// GPUs.
    pub gpus: Vec<PciAddress>,
    /// RDMA NICs.
    pub nics: Vec<PciAddress>,
    /// Every function written, in address order.
    pub functions: Vec<PciAddress>,
}

fn dump_bytes(text: &str, addr: &str) -> io::Result<Vec<u8>> {
    let (dumps, _) = read_hex_dumps(text);
    let want: PciAddress = addr
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{e}")))?;
    dumps
        .into_iter()
        .find(|d| d.address == want)
        .map(|d| d.bytes)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{addr} not in dump")))
}

/// A bridge's config with primary/secondary/subordinate bus numbers rewritten.
fn with_buses(mut config: Vec<u8>, primary: u8, secondary: u8, subordinate: u8) -> Vec<u8> {
    if config.len() > 0x1a {
        config[0x18] = primary;
        config[0x19] = secondary;
        config[0x1a] = subordinate;
    }
    config
}

/// Builds a clean 8-GPU/8-NIC server at `root`: 4 root ports, each above a PLX PEX8749
/// switch whose 4 downstream ports hold 2 GPUs (the MX150 dump) and 2 ConnectX-3 Pro NICs,
/// with bus numbers rewritten into one consistent tree; plus DMI, kernel (`iommu=pt`), 2
/// NUMA nodes of 56 CPUs, NVIDIA and RDMA modules, one IB device and IPoIB interface per
/// NIC. Rules should find nothing wrong with the PCIe settings beyond what the real dumps
/// carry.
pub fn gpu_server(root: &Path) -> io::Result<ServerLayout> {
    let tree = FakeTree::new(root)?;
    let rp = dump_bytes(dumps::CX3PRO, "00:02.0")?;
    let nic = dump_bytes(dumps::CX3PRO, "03:00.0")?;
    let gpu = dump_bytes(dumps::MX150, "02:00.0")?;
    let up = dump_bytes(dumps::PLX, "0000:01:00.0")?;
    let down: Vec<Vec<u8>> = [
        "0000:02:08.0",
        "0000:02:10.0",
        "0000:02:11.0",
        "0000:02:12.0",
    ]
    .iter()
    .map(|a| dump_bytes(dumps::PLX, a))
    .collect::<io::Result<_>>()?;
    let down_devs = [0x08u8, 0x10, 0x11, 0x12];

    let mut layout = ServerLayout::default();
    let mut group = 10u32;
    let aer_cor = "RxErr 0\nBadTLP 0\nBadDLLP 0\nRollover 0\nTimeout 0\nNonFatalErr 0\nCorrIntErr 0\nHeaderOF 0\nTOTAL_ERR_COR 0\n";
    let aer_fatal = "Undefined 0\nDLP 0\nSDES 0\nTLP 0\nFCP 0\nCmpltTO 0\nCmpltAbrt 0\nUnxCmplt 0\nRxOF 0\nMalfTLP 0\nECRC 0\nUnsupReq 0\nACSViol 0\nUncorrIntErr 0\nBlockedTLP 0\nAtomicOpBlocked 0\nTLPBlockedErr 0\nPoisonTLPBlocked 0\nTOTAL_ERR_FATAL 0\n";
    let aer_nonfatal = aer_fatal.replace("TOTAL_ERR_FATAL", "TOTAL_ERR_NONFATAL");
    let aer = |rootport: bool| {
        let mut v = vec![
            ("aer_dev_correctable".to_string(), aer_cor.to_string()),
            ("aer_dev_fatal".to_string(), aer_fatal.to_string()),
            ("aer_dev_nonfatal".to_string(), aer_nonfatal.clone()),
        ];
        if rootport {
            for t in ["cor", "fatal", "nonfatal"] {
                v.push((format!("aer_rootport_total_err_{t}"), "0\n".to_string()));
            }
        }
        v
    };
    let cpulists = ["0-55,112-167", "56-111,168-223"];
    for s in 0..4u8 {
        let numa = i32::from(s / 2);
        let cpulist = cpulists[usize::from(s / 2)];
        let base = 0x10 + 0x20 * s;
        let mut put = |addr: PciAddress, config: Vec<u8>, driver: &str, aer_root: bool| {
            let mut f = FakePci::new(addr, config);
            f.driver = Some(driver.to_string());
            f.numa_node = Some(numa);
            f.local_cpulist = Some(cpulist.to_string());
            f.iommu_group = Some((group, "identity".into()));
            f.attrs = aer(aer_root);
            group += 1;
            layout.functions.push(addr);
            tree.pci(&f)
        };
        let rp_addr = PciAddress::new(0, 0, 1 + s, 0);
        put(
            rp_addr,
            with_buses(rp.clone(), 0, base, base + 5),
            "pcieport",
            true,
        )?;
        layout.root_ports.push(rp_addr);
        let up_addr = PciAddress::new(0, base, 0, 0);
        put(
            up_addr,
            with_buses(up.clone(), base, base + 1, base + 5),
            "pcieport",
            false,
        )?;
        layout.switch_upstream.push(up_addr);
        for (j, (cfg, dev)) in down.iter().zip(down_devs).enumerate() {
            let bus = base + 2 + j as u8;
            let ds = PciAddress::new(0, base + 1, dev, 0);
            put(
                ds,
                with_buses(cfg.clone(), base + 1, bus, bus),
                "pcieport",
                false,
            )?;
            layout.switch_downstream.push(ds);
            let ep = PciAddress::new(0, bus, 0, 0);
            if j < 2 {
                put(ep, gpu.clone(), "nvidia", false)?;
                layout.gpus.push(ep);
            } else {
                put(ep, nic.clone(), "mlx4_core", false)?;
                layout.nics.push(ep);
            }
        }
    }
    layout.functions.sort();

    tree.kernel(
        "gpu-node-001",
        "6.8.0-45-generic",
        "BOOT_IMAGE=/vmlinuz-6.8.0-45-generic root=UUID=0000 ro intel_iommu=on iommu=pt",
    )?;
    tree.dmi(&[
        ("bios_vendor", "American Megatrends International, LLC."),
        ("bios_version", "1.3.0"),
        ("bios_date", "05/14/2024"),
        ("board_vendor", "Supermicro"),
        ("board_name", "X13DEG-OAD"),
        ("sys_vendor", "Supermicro"),
        ("product_name", "SYS-821GE-TNHR"),
    ])?;
    tree.file("sys/class/iommu/dmar0/.keep", "")?;
    tree.file("sys/class/iommu/dmar1/.keep", "")?;
    tree.cpus(
        "Intel(R) Xeon(R) Platinum 8480+",
        224,
        &["0-55,112-167", "56-111,168-223"],
    )?;
    tree.modules(&[
        "nvidia",
        "nvidia_uvm",
        "nvidia_modeset",
        "nvidia_peermem",
        "mlx4_core",
        "mlx4_ib",
        "ib_core",
        "ib_uverbs",
        "rdma_ucm",
    ])?;
    for (i, nic) in layout.nics.iter().enumerate() {
        tree.ib(
            &format!("mlx4_{i}"),
            nic,
            "2.42.5000",
            &format!("e41d:2d03:00ab:cd{i:02x}"),
            &[("4: ACTIVE", "5: LinkUp", "56 Gb/sec (4X FDR)", "InfiniBand")],
        )?;
        tree.net(&format!("ib{i}"), 4092, "up", Some(nic), None)?;
    }
    tree.net("lo", 65536, "unknown", None, None)?;
    Ok(layout)
}
