//! Turning the command line's inputs into work: folders are walked up front (names and
//! sizes only, no content), which gives the progress bar its total.

use std::path::{Path, PathBuf};

use super::queue::Work;
use super::{FleetInput, Skipped};

/// The work for a set of inputs, in a stable order.
pub(super) struct Plan {
    work: Vec<Work>,
    /// Sum of the files' sizes; `None` when stdin or a pipe is among the inputs.
    pub(super) bytes_total: Option<u64>,
}

impl Plan {
    /// The work items, in order.
    pub(super) fn into_work(self) -> impl Iterator<Item = Work> {
        self.work.into_iter()
    }
}

/// Walks `inputs`. A folder's regular files are taken recursively in name order; hidden
/// files and folders (`.git`, editor swap files) are left out, and symbolic links to folders
/// are not followed (a link cycle would never end). A path named explicitly is read whatever
/// it is, so `<(pdsh ...)` (a pipe) works.
pub(super) fn plan(inputs: &[FleetInput]) -> Plan {
    let mut plan = Plan {
        work: Vec::new(),
        bytes_total: Some(0),
    };
    for input in inputs {
        match input {
            FleetInput::Stdin => {
                plan.work.push(Work::Stdin);
                plan.bytes_total = None;
            }
            FleetInput::Path(path) => match std::fs::metadata(path) {
                Ok(meta) if meta.is_dir() => walk_dir(path, &mut plan),
                Ok(meta) => {
                    if meta.is_file() {
                        add_size(&mut plan, meta.len());
                    } else {
                        plan.bytes_total = None;
                    }
                    plan.work.push(Work::File {
                        path: path.clone(),
                        explicit: true,
                    });
                }
                Err(e) => plan.work.push(skip(path, format!("cannot read: {e}"))),
            },
        }
    }
    plan
}

fn walk_dir(dir: &Path, plan: &mut Plan) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            plan.work
                .push(skip(dir, format!("cannot read folder: {e}")));
            return;
        }
    };
    let mut children: Vec<(PathBuf, std::fs::FileType)> = Vec::new();
    for entry in entries {
        match entry.and_then(|e| Ok((e.path(), e.file_type()?))) {
            Ok((path, kind)) => {
                if !is_hidden(&path) {
                    children.push((path, kind));
                }
            }
            Err(e) => plan
                .work
                .push(skip(dir, format!("cannot read folder: {e}"))),
        }
    }
    children.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, kind) in children {
        if kind.is_dir() {
            walk_dir(&path, plan);
            continue;
        }
        // Follow links to files (a folder of links into a shared store is common), but not
        // to folders, and leave sockets, pipes and devices in a folder alone.
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => {
                add_size(plan, meta.len());
                plan.work.push(Work::File {
                    path,
                    explicit: false,
                });
            }
            Ok(_) => {}
            // A dangling link, or a file removed since the folder was listed.
            Err(e) => plan.work.push(skip(&path, format!("cannot read: {e}"))),
        }
    }
}

fn add_size(plan: &mut Plan, len: u64) {
    if let Some(total) = &mut plan.bytes_total {
        *total += len;
    }
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

fn skip(path: &Path, error: String) -> Work {
    Work::Skip(Skipped {
        input: path.display().to_string(),
        line: None,
        error,
        lost_data: true,
    })
}
