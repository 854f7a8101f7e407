//! Minimal edits of real lspci dumps, for fleets with a known fault (tests and the HTML
//! example share them).
#![allow(dead_code)]

/// Replaces the first line of the device block starting with `address` that contains `from`.
pub fn edit_device(text: &str, address: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_dev = false;
    let mut done = false;
    for line in text.lines() {
        if !line.starts_with(['\t', ' ']) && !line.is_empty() {
            in_dev = line.starts_with(address);
        }
        if in_dev && !done && line.contains(from) {
            out.push_str(&line.replacen(from, to, 1));
            done = true;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    assert!(done, "{address}: {from} not found");
    out
}

/// Drops the device block starting with `address`, as if it fell off the bus.
pub fn remove_device(text: &str, address: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_dev = false;
    for line in text.lines() {
        if !line.starts_with(['\t', ' ']) && !line.is_empty() {
            in_dev = line.starts_with(address);
        }
        if !in_dev {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
