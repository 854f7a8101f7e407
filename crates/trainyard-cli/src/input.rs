//! Opening inputs: a file path or `-`/nothing for stdin, with the name used in messages.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// An opened input and the name errors should use for it.
pub struct Input {
    /// `path` or `<stdin>`.
    pub name: String,
    /// The path, when it is a file.
    pub path: Option<PathBuf>,
    /// Buffered reader over it.
    pub reader: Box<dyn BufRead>,
}

/// Opens `path`, or stdin for `None` and `-`.
pub fn open(path: Option<&Path>) -> anyhow::Result<Input> {
    match path {
        None => Ok(stdin()),
        Some(p) if p == Path::new("-") => Ok(stdin()),
        Some(p) => {
            let file = File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
            if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
                anyhow::bail!(
                    "{} is a directory; give one file (or - for stdin)",
                    p.display()
                );
            }
            Ok(Input {
                name: p.display().to_string(),
                path: Some(p.to_path_buf()),
                reader: Box::new(BufReader::with_capacity(1 << 16, file)),
            })
        }
    }
}

fn stdin() -> Input {
    Input {
        name: "<stdin>".into(),
        path: None,
        reader: Box::new(BufReader::with_capacity(1 << 16, std::io::stdin())),
    }
}
