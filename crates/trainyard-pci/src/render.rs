//! Renders a [`Device`] as lspci `-vvv`-style text: the readable per-device view.

use std::fmt::Write;

use crate::device::{CapabilitySpace, Device};

/// Writes the device the way `lspci -vvv` lays it out (header line, tab-indented header
/// registers, one `Capabilities:` block per capability).
pub fn render_device(dev: &Device, out: &mut String) {
    if let Some(h) = &dev.host {
        let _ = write!(out, "{h}: ");
    }
    let _ = write!(out, "{}", dev.address);
    let class = dev
        .names
        .class
        .clone()
        .or_else(|| dev.ids.class.map(|c| format!("Class {c:04x}")));
    if let Some(class) = class {
        let _ = write!(out, " {class}:");
    }
    let vendor = dev.names.vendor.as_deref().unwrap_or("");
    match (&dev.names.device, dev.ids.vendor, dev.ids.device) {
        (Some(d), _, _) if d.starts_with(vendor) => {
            let _ = write!(out, " {d}");
        }
        (Some(d), _, _) => {
            let _ = write!(out, " {vendor} {d}");
        }
        (None, Some(v), Some(d)) => {
            let _ = write!(out, " {v:04x}:{d:04x}");
        }
        _ => {}
    }
    // Numeric ids as `lspci -nn` shows them: names differ between pci.ids versions, ids don't.
    if dev.names.device.is_some() {
        if let (Some(v), Some(d)) = (dev.ids.vendor, dev.ids.device) {
            let _ = write!(out, " [{v:04x}:{d:04x}]");
        }
    }
    if let Some(r) = dev.ids.revision.filter(|&r| r != 0) {
        let _ = write!(out, " (rev {r:02x})");
    }
    out.push('\n');
    for line in &dev.header {
        indent(out, 1 + line.depth as usize);
        out.push_str(&line.text);
        out.push('\n');
    }
    for cap in &dev.capabilities {
        out.push('\t');
        match (cap.space, cap.offset, cap.version) {
            (_, 0, None) => out.push_str("Capabilities: "),
            (CapabilitySpace::Extended, off, Some(v)) => {
                let _ = write!(out, "Capabilities: [{off:03x} v{v}] ");
            }
            (_, off, _) => {
                let _ = write!(out, "Capabilities: [{off:02x}] ");
            }
        }
        out.push_str(&cap.title);
        out.push('\n');
        for line in &cap.lines {
            indent(out, 2 + line.depth as usize);
            out.push_str(&line.text);
            out.push('\n');
        }
    }
    if let Some(d) = &dev.driver {
        let _ = writeln!(out, "\tKernel driver in use: {d}");
    }
    if !dev.kernel_modules.is_empty() {
        let _ = writeln!(out, "\tKernel modules: {}", dev.kernel_modules.join(", "));
    }
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push('\t');
    }
}
