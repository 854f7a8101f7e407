//! `.tar` archives (already decompressed when they were `.tar.gz`): entries are read one at
//! a time from the stream, never extracted to disk.

use std::io::Read;
use std::path::{Component, Path};

use super::context::{Context, Sink};
use super::queue::Work;
use super::stream::{skipped, Buffer, BufferKind, Nesting};
use crate::ingest;

/// Entries up to this size are read into memory and queued for another worker; larger ones
/// (never a real node's file) are read by this worker straight from the archive stream.
const MAX_QUEUED_ENTRY: u64 = 32 << 20;

/// Reads every regular, non-hidden file of a tar stream as an input of its own, labelled
/// `archive:path/in/archive`.
pub(super) fn read_tar(ctx: &Context<'_>, label: &str, reader: impl Read, sink: Sink<'_>) {
    let mut archive = tar::Archive::new(reader);
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(e) => return sink(label, skipped(label, None, format!("bad tar archive: {e}"))),
    };
    let mut read = 0usize;
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                // A tar stream cannot be resynchronised after a bad header.
                let error =
                    format!("tar archive damaged after {read} files; the rest was not read: {e}");
                return sink(label, skipped(label, None, error));
            }
        };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = match entry.path() {
            Ok(p) => p.into_owned(),
            Err(_) => String::from_utf8_lossy(&entry.path_bytes())
                .into_owned()
                .into(),
        };
        if is_hidden(&path) {
            continue;
        }
        read += 1;
        let entry_label = format!("{label}:{}", path.display());
        let name = ingest::name_from_path(&path);
        if entry.size() <= MAX_QUEUED_ENTRY {
            let mut bytes = Vec::with_capacity(entry.size() as usize);
            if let Err(e) = entry.read_to_end(&mut bytes) {
                let error = format!("read error in archive; the rest was not read: {e}");
                return sink(&entry_label, skipped(&entry_label, None, error));
            }
            let buffer = Buffer {
                label: entry_label,
                default_name: name,
                bytes,
                kind: BufferKind::Entry,
            };
            ctx.hand_off(Work::Buffer(buffer), sink);
        } else {
            let nest = Nesting {
                in_archive: true,
                in_gzip: false,
            };
            ctx.read_stream(&entry_label, &name, Box::new(&mut entry), nest, sink);
        }
    }
}

/// True for macOS `._` resource files, `.git` and other dot paths, which are never inputs.
fn is_hidden(path: &Path) -> bool {
    path.components().any(|c| match c {
        Component::Normal(n) => n.to_string_lossy().starts_with('.'),
        _ => false,
    })
}
