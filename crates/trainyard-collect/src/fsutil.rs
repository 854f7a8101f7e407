//! Reading sysfs and procfs files under a root directory.
//!
//! Every read goes through [`Fs`], so the collector can run against a fake tree (`--root`)
//! and so every failure comes back as a [`ReadError`] whose text is the reason recorded in
//! `snapshot.missing`.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Largest text file read. `/proc/cpuinfo` of a 512-thread host is about 1.5 MiB; anything far
/// bigger is not a sysfs/procfs file we understand, and reading it whole would waste memory.
const MAX_TEXT: u64 = 16 << 20;

/// Why a file could not be read; its `Display` is the reason recorded in `missing`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ReadError {
    /// The file or directory does not exist.
    #[error("not present")]
    NotFound,
    /// The kernel refused to let us read it.
    #[error("permission denied{}", if *.not_root { " (not root)" } else { "" })]
    PermissionDenied {
        /// Whether the process is known not to run as root (then root would help).
        not_root: bool,
    },
    /// Any other IO error (EIO from a device that fell off the bus, ENODEV, ...).
    #[error("read error: {0}")]
    Io(io::Error),
    /// Bytes that are not UTF-8 text.
    #[error("not UTF-8 text")]
    NotText,
    /// Larger than any such file should be.
    #[error("over {} MiB, not a file of the expected kind", MAX_TEXT >> 20)]
    TooLarge,
    /// Text that does not have the expected shape.
    #[error("unexpected content {text:?}")]
    Unparsable {
        /// The text (shortened).
        text: String,
    },
}

impl ReadError {
    fn from_io(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound => Self::NotFound,
            io::ErrorKind::PermissionDenied => Self::PermissionDenied {
                not_root: is_root() == Some(false),
            },
            _ => Self::Io(e),
        }
    }

    /// Content that did not parse; long text is shortened so one odd file cannot bloat the
    /// snapshot.
    pub(crate) fn unparsable(text: &str) -> Self {
        Self::Unparsable {
            text: text.chars().take(80).collect(),
        }
    }
}

/// Whether this process runs with effective uid 0, from `/proc/self/status`.
///
/// This is the real `/proc`, not the `--root` tree: it describes this process, not the node
/// being read. `None` when it cannot be told (no procfs).
pub(crate) fn is_root() -> Option<bool> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    // "Uid:\treal\teffective\tsaved\tfs"
    let euid = line.split_whitespace().nth(2)?;
    Some(euid == "0")
}

/// A read-only view of a root directory (`/` or a fake tree).
#[derive(Debug, Clone)]
pub(crate) struct Fs {
    root: PathBuf,
}

impl Fs {
    /// A view of `root`.
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    /// `ROOT/rel` for an absolute-looking `rel` such as `/sys/class/net`.
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    /// Up to `limit` bytes of a file.
    pub(crate) fn read_bytes(&self, path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
        let file = fs::File::open(path).map_err(ReadError::from_io)?;
        let mut bytes = Vec::new();
        file.take(limit)
            .read_to_end(&mut bytes)
            .map_err(ReadError::from_io)?;
        Ok(bytes)
    }

    /// A text file with trailing whitespace (the newline sysfs appends) removed.
    pub(crate) fn read_text(&self, path: &Path) -> Result<String, ReadError> {
        let bytes = self.read_bytes(path, MAX_TEXT + 1)?;
        if bytes.len() as u64 > MAX_TEXT {
            return Err(ReadError::TooLarge);
        }
        let mut text = String::from_utf8(bytes).map_err(|_| ReadError::NotText)?;
        text.truncate(text.trim_end().len());
        Ok(text)
    }

    /// Like [`Fs::read_text`], but an absent file is `Ok(None)`: many attributes exist only
    /// on some devices (link speed only on PCIe, AER counters only with AER).
    pub(crate) fn read_opt(&self, path: &Path) -> Result<Option<String>, ReadError> {
        match self.read_text(path) {
            Ok(t) => Ok(Some(t)),
            Err(ReadError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The last component of a symlink's target (`driver` → `nvidia`), `Ok(None)` if absent.
    pub(crate) fn link_name(&self, path: &Path) -> Result<Option<String>, ReadError> {
        match fs::read_link(path) {
            Ok(target) => Ok(target.file_name().map(|n| n.to_string_lossy().into_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ReadError::from_io(e)),
        }
    }

    /// Entries of a directory, sorted by name, with their paths.
    pub(crate) fn list_dir(&self, path: &Path) -> Result<Vec<(String, PathBuf)>, ReadError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(path).map_err(ReadError::from_io)? {
            let entry = entry.map_err(ReadError::from_io)?;
            out.push((
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
            ));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Whether `path` exists (following links).
    pub(crate) fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}

/// The PCI function a sysfs `device` link leads to.
///
/// The link's target is the PCI function itself for most drivers (`../../../0000:17:00.0`),
/// but a bus in between for some (`virtio-net`: `.../0000:00:03.0/virtio2`), so when the
/// last component is not an address the resolved path is searched from its end.
pub(crate) fn pci_address_of_link(fs: &Fs, link: &Path) -> Result<Option<String>, ReadError> {
    let Some(name) = fs.link_name(link)? else {
        return Ok(None);
    };
    if let Some(addr) = normalize_address(&name) {
        return Ok(Some(addr));
    }
    let resolved = match fs::canonicalize(link) {
        Ok(p) => p,
        // A dangling link (fake trees, or a device removed while we read).
        Err(_) => return Ok(None),
    };
    Ok(resolved
        .components()
        .rev()
        .filter_map(|c| normalize_address(&c.as_os_str().to_string_lossy()))
        .next())
}

/// `0000:17:00.0` in canonical form if `s` is a PCI address, else `None`.
pub(crate) fn normalize_address(s: &str) -> Option<String> {
    // Needs the domain: sysfs names always carry it, and requiring it keeps names such as
    // `12:34.5` of unrelated objects from being taken for addresses.
    if s.matches(':').count() != 2 {
        return None;
    }
    s.parse::<trainyard_pci::PciAddress>()
        .ok()
        .map(|a| a.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            normalize_address("0000:17:00.0").as_deref(),
            Some("0000:17:00.0")
        );
        assert_eq!(
            normalize_address("10000:00:02.0").as_deref(),
            Some("10000:00:02.0")
        );
        assert_eq!(normalize_address("virtio2"), None);
        assert_eq!(normalize_address("17:00.0"), None);
        assert_eq!(normalize_address("pci0000:00"), None);
    }
}
