//! `trainyard snapshot`: collect this node's snapshot and write it as JSON.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use trainyard_collect::{check_root, collect, CollectOptions};

use crate::args::SnapshotArgs;
use crate::exit::Exit;

/// Collects and writes the snapshot.
pub fn run(args: &SnapshotArgs) -> anyhow::Result<Exit> {
    let mut opts = match &args.root {
        Some(root) => {
            check_root(root).context("--root")?;
            CollectOptions::fake_root(root)
        }
        None => CollectOptions::default(),
    }
    .with_host(args.host.clone());
    if args.no_tools {
        opts.run_tools = false;
    }
    let snapshot = collect(&opts);
    let json = snapshot.to_json();
    match args.output.as_deref() {
        None => write_stdout(&json)?,
        Some(p) if p == Path::new("-") => write_stdout(&json)?,
        Some(pattern) => {
            let path = expand_host(pattern, &snapshot.host);
            write_file(&path, &json)?;
            tracing::info!(
                path = %path.display(),
                pci = snapshot.pci.len(),
                missing = snapshot.missing.len(),
                "snapshot written"
            );
        }
    }
    Ok(Exit::Clean)
}

fn write_stdout(json: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(json.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .context("writing the snapshot to standard output")
}

/// `%h` in `pattern` replaced by the host name, as in `-o /shared/snap/%h.json` under
/// `srun -N512`. A `/` in a host name would escape the folder, so it becomes `_`.
fn expand_host(pattern: &Path, host: &str) -> PathBuf {
    let safe = host.replace('/', "_");
    PathBuf::from(pattern.to_string_lossy().replace("%h", &safe))
}

/// Writes through a temporary file in the same folder and renames it into place, so a
/// fleet analysis reading the shared folder while 512 nodes write never sees half a file.
fn write_file(path: &Path, json: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = std::fs::write(&tmp, format!("{json}\n"))
        .with_context(|| format!("cannot write {}", path.display()))
        .and_then(|()| {
            std::fs::rename(&tmp, path)
                .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_pattern() {
        assert_eq!(
            expand_host(Path::new("/shared/snap/%h.json"), "node017"),
            PathBuf::from("/shared/snap/node017.json")
        );
        assert_eq!(
            expand_host(Path::new("%h-%h"), "a/b"),
            PathBuf::from("a_b-a_b")
        );
        assert_eq!(
            expand_host(Path::new("x.json"), "n"),
            PathBuf::from("x.json")
        );
    }
}
