//! GPUs: from `nvidia-smi -q -x` when allowed and installed, from PCI identity otherwise.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use trainyard_pci::{decode_config, PciAddress, Role};
use trainyard_snapshot::{Gpu, PciFunction};

use crate::fsutil::normalize_address;
use crate::record::Recorder;
use crate::CollectOptions;

/// Largest nvidia-smi output accepted: about 40 KiB per GPU, so 4 MiB leaves room for a
/// 72-GPU NVL rack's worth of output while bounding a misbehaving tool.
const MAX_TOOL_OUTPUT: u64 = 4 << 20;

/// GPUs of the node. nvidia-smi entries first (they carry serial, VBIOS and driver), then
/// every PCI GPU nvidia-smi did not list, with `source` `pci`: a GPU that is on the bus but
/// unknown to the driver is exactly what a doctor wants to see.
pub(crate) fn collect(pci: &[PciFunction], opts: &CollectOptions, rec: &mut Recorder) -> Vec<Gpu> {
    let pci_gpus = gpus_from_pci(pci);
    let mut gpus = if opts.run_tools {
        match run_nvidia_smi(opts.tool_timeout) {
            Ok(xml) => parse_nvidia_smi_xml(&xml),
            Err(ToolError::NotInstalled) => {
                // Only worth a line when there is an NVIDIA GPU that it would have described.
                if pci_gpus.iter().any(|(_, nvidia)| *nvidia) {
                    rec.miss("nvidia-smi", "not installed (not on PATH)");
                }
                Vec::new()
            }
            Err(e) => {
                rec.miss("nvidia-smi", e);
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    for (gpu, _) in pci_gpus {
        if !gpus.iter().any(|g| g.pci_address == gpu.pci_address) {
            gpus.push(gpu);
        }
    }
    gpus
}

/// GPUs by PCI identity (the same [`Role`] rule the rulebook uses), each with whether it is
/// an NVIDIA device.
fn gpus_from_pci(pci: &[PciFunction]) -> Vec<(Gpu, bool)> {
    let mut out = Vec::new();
    for f in pci {
        let c = &f.config;
        // Cheap filter before a full decode: display controllers (0x03) and processing
        // accelerators (0x12) are the only classes that can be GPUs.
        if c.len() < 64 || !matches!(c[0x0b], 0x03 | 0x12) {
            continue;
        }
        let Ok(addr) = f.address.parse::<PciAddress>() else {
            continue;
        };
        let Ok(dev) = decode_config(addr, c) else {
            continue;
        };
        if dev.role() != Role::Gpu {
            continue;
        }
        let vendor = u16::from_le_bytes([c[0], c[1]]);
        let device = u16::from_le_bytes([c[2], c[3]]);
        out.push((
            Gpu {
                pci_address: f.address.clone(),
                name: trainyard_pci::ids::device_name(vendor, device).map(str::to_string),
                source: "pci".into(),
                ..Gpu::default()
            },
            vendor == 0x10de,
        ));
    }
    out
}

/// Why a tool produced no output.
#[derive(Debug, thiserror::Error)]
enum ToolError {
    #[error("not installed (not on PATH)")]
    NotInstalled,
    #[error("could not start: {0}")]
    Spawn(std::io::Error),
    #[error("killed after {0:?} without finishing")]
    Timeout(Duration),
    #[error("exited with {status}: {stderr}")]
    Failed { status: String, stderr: String },
    #[error("output is not UTF-8")]
    NotText,
}

/// First `name` on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Runs `nvidia-smi -q -x` (read-only: it queries, never sets) with a deadline.
#[tracing::instrument]
fn run_nvidia_smi(timeout: Duration) -> Result<String, ToolError> {
    let exe = which("nvidia-smi").ok_or(ToolError::NotInstalled)?;
    run_tool(&exe, &["-q", "-x"], timeout)
}

/// Runs `exe args`, collecting stdout, killing it at `timeout`.
fn run_tool(exe: &Path, args: &[&str], timeout: Duration) -> Result<String, ToolError> {
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(ToolError::Spawn)?;
    // Readers on threads so a chatty tool cannot block on a full pipe while we wait.
    let out_reader = child.stdout.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = (&mut s).take(MAX_TOOL_OUTPUT).read_to_end(&mut buf);
            buf
        })
    });
    let err_reader = child.stderr.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = (&mut s).take(64 << 10).read_to_end(&mut buf);
            buf
        })
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ToolError::Timeout(timeout));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(ToolError::Spawn(e)),
        }
    };
    let stdout = out_reader.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = err_reader.and_then(|h| h.join().ok()).unwrap_or_default();
    if !status.success() {
        // nvidia-smi explains itself on stdout ("couldn't communicate with the NVIDIA
        // driver"), other tools on stderr: keep whichever says something.
        let text = if stderr.is_empty() { &stdout } else { &stderr };
        let msg: String = String::from_utf8_lossy(text)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(200)
            .collect();
        return Err(ToolError::Failed {
            status: status.to_string(),
            stderr: msg,
        });
    }
    String::from_utf8(stdout).map_err(|_| ToolError::NotText)
}

/// GPUs from `nvidia-smi -q -x` output.
///
/// A string scan rather than an XML parser: the output is flat and machine-written, and the
/// few fields kept here (`<gpu id=...>`, `product_name`, `serial`, `vbios_version`, the
/// top-level `driver_version`) each appear once per GPU. Values `N/A` become `None`.
pub fn parse_nvidia_smi_xml(xml: &str) -> Vec<Gpu> {
    let driver_version = element(xml.split("<gpu ").next().unwrap_or(""), "driver_version");
    let mut gpus = Vec::new();
    for block in xml.split("<gpu ").skip(1) {
        let block = block.split("</gpu>").next().unwrap_or(block);
        let id = block
            .strip_prefix("id=\"")
            .and_then(|r| r.split('"').next())
            .unwrap_or("");
        let Some(pci_address) = normalize_address(&id.to_ascii_lowercase()) else {
            tracing::debug!(id, "nvidia-smi gpu id is not a PCI address; skipped");
            continue;
        };
        gpus.push(Gpu {
            pci_address,
            name: element(block, "product_name"),
            serial: element(block, "serial"),
            vbios: element(block, "vbios_version"),
            driver_version: driver_version.clone(),
            source: "nvidia-smi".into(),
        });
    }
    gpus
}

/// Text of the first `<tag>...</tag>` in `xml`, entity-decoded, `None` if absent or `N/A`.
fn element(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    let text = xml[start..start + len]
        .trim()
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    (!text.is_empty() && text != "N/A").then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<?xml version="1.0" ?>
<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">
<nvidia_smi_log>
	<timestamp>Thu Nov 28 15:04:05 2026</timestamp>
	<driver_version>550.54.15</driver_version>
	<attached_gpus>2</attached_gpus>
	<gpu id="00000000:1B:00.0">
		<product_name>NVIDIA H100 80GB HBM3</product_name>
		<serial>1654923001234</serial>
		<vbios_version>96.00.74.00.01</vbios_version>
		<pci><pci_bus_id>00000000:1B:00.0</pci_bus_id></pci>
	</gpu>
	<gpu id="00000000:43:00.0">
		<product_name>NVIDIA H100 80GB HBM3 &amp; co</product_name>
		<serial>N/A</serial>
	</gpu>
</nvidia_smi_log>
"#;

    #[test]
    fn parses_two_gpus() {
        let gpus = parse_nvidia_smi_xml(XML);
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[0].pci_address, "0000:1b:00.0");
        assert_eq!(gpus[0].name.as_deref(), Some("NVIDIA H100 80GB HBM3"));
        assert_eq!(gpus[0].serial.as_deref(), Some("1654923001234"));
        assert_eq!(gpus[0].vbios.as_deref(), Some("96.00.74.00.01"));
        assert_eq!(gpus[0].driver_version.as_deref(), Some("550.54.15"));
        assert_eq!(gpus[1].name.as_deref(), Some("NVIDIA H100 80GB HBM3 & co"));
        assert_eq!(gpus[1].serial, None);
        assert_eq!(gpus[1].source, "nvidia-smi");
    }

    #[test]
    fn garbage_gives_nothing() {
        assert!(parse_nvidia_smi_xml("").is_empty());
        assert!(parse_nvidia_smi_xml("<gpu <gpu id=\"zz\"> </gpu").is_empty());
        assert!(parse_nvidia_smi_xml("<gpu id=\"00000000:1B:00.0\"><serial>").len() == 1);
    }

    #[test]
    fn tool_failures_are_errors_not_panics() {
        let err = run_tool(Path::new("/nonexistent/tool"), &[], Duration::from_secs(1));
        assert!(matches!(err, Err(ToolError::Spawn(_))));
        if Path::new("/bin/sh").exists() {
            let err = run_tool(
                Path::new("/bin/sh"),
                &["-c", "echo boom >&2; exit 3"],
                Duration::from_secs(5),
            )
            .unwrap_err();
            assert!(err.to_string().contains("boom"), "{err}");
            let err = run_tool(
                Path::new("/bin/sh"),
                &["-c", "sleep 5"],
                Duration::from_millis(50),
            )
            .unwrap_err();
            assert!(matches!(err, ToolError::Timeout(_)), "{err}");
        }
    }
}
