//! CPU model and NUMA layout.

use trainyard_snapshot::Cpu;

use crate::fsutil::{Fs, ReadError};
use crate::record::Recorder;

/// `model name` and processor count from `/proc/cpuinfo`, NUMA cpulists from
/// `/sys/devices/system/node`.
pub(crate) fn collect(fs: &Fs, rec: &mut Recorder) -> Cpu {
    let mut cpu = Cpu::default();
    match fs.read_text(&fs.path("/proc/cpuinfo")) {
        Ok(text) => {
            let (model, count) = parse_cpuinfo(&text);
            if model.is_none() {
                rec.miss(
                    "cpu.model",
                    "/proc/cpuinfo has no `model name` line (arm64 kernels print only part numbers)",
                );
            }
            cpu.model = model;
            cpu.logical_cpus = (count > 0).then_some(count);
        }
        Err(e) => rec.miss("cpu", format_args!("/proc/cpuinfo: {e}")),
    }
    let nodes = fs.path("/sys/devices/system/node");
    match fs.list_dir(&nodes) {
        Ok(entries) => {
            for (name, path) in entries {
                let Some(n) = name
                    .strip_prefix("node")
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                match fs.read_text(&path.join("cpulist")) {
                    Ok(list) => {
                        cpu.numa_nodes.insert(n, list);
                    }
                    Err(e) => rec.miss(format!("cpu numa node{n} cpulist"), e),
                }
            }
        }
        // Kernels without CONFIG_NUMA have no node directory: one node, nothing to map.
        Err(ReadError::NotFound) => rec.miss(
            "cpu.numa_nodes",
            "not present: /sys/devices/system/node does not exist (kernel without NUMA)",
        ),
        Err(e) => rec.miss("cpu.numa_nodes", e),
    }
    cpu
}

/// First `model name` and the number of `processor` entries.
fn parse_cpuinfo(text: &str) -> (Option<String>, u32) {
    let mut model = None;
    let mut count = 0u32;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "processor" => count += 1,
            "model name" if model.is_none() => model = Some(value.trim().to_string()),
            _ => {}
        }
    }
    (model, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo() {
        let text = "processor\t: 0\nmodel name\t: AMD EPYC 9654 96-Core Processor\n\n\
                    processor\t: 1\nmodel name\t: AMD EPYC 9654 96-Core Processor\n";
        assert_eq!(
            parse_cpuinfo(text),
            (Some("AMD EPYC 9654 96-Core Processor".into()), 2)
        );
        assert_eq!(parse_cpuinfo("garbage\n\0\0"), (None, 0));
    }
}
