//! `trainyard logs JOB [-f] [--rank N] [--attempt K]`: a job's output with `[node/rank]`
//! prefixes, merged in the order the supervisor received it (`attempt-<k>/output.log`), or one
//! rank's; `-f` keeps printing until the job ends, moving on to each new attempt.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use trainyard_store::{Job, Store};

use super::jobs;
use crate::exit::Exit;
use crate::job_args::LogsArgs;
use crate::live::MERGED_LOG;

/// How often `-f` looks for new output and new attempts.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// One line of `logs --json`.
#[derive(Serialize)]
struct JsonLine<'a> {
    attempt: u32,
    node: &'a str,
    rank: Option<u32>,
    text: &'a str,
}

/// Where printed lines go, with the filters applied.
struct Printer {
    rank: Option<u32>,
    json: bool,
    out: std::io::StdoutLock<'static>,
}

impl Printer {
    /// Prints one merged-log line of `attempt` if it passes the rank filter.
    fn line(&mut self, attempt: u32, line: &str) -> anyhow::Result<()> {
        let (node, rank, text) = split_prefix(line);
        if self.rank.is_some() && rank != self.rank {
            return Ok(());
        }
        if self.json {
            let doc = JsonLine {
                attempt,
                node,
                rank,
                text,
            };
            let mut text = serde_json::to_string(&doc)?;
            text.push('\n');
            self.out.write_all(text.as_bytes())?;
        } else {
            writeln!(self.out, "{line}")?;
        }
        Ok(())
    }

    fn header(&mut self, attempt: u32, state: &str) -> anyhow::Result<()> {
        if !self.json {
            writeln!(self.out, "==> attempt {attempt} ({state}) <==")?;
        }
        Ok(())
    }
}

/// `[local-0/3] text` → `("local-0", Some(3), "text")`; lines without a prefix keep their text.
fn split_prefix(line: &str) -> (&str, Option<u32>, &str) {
    let parsed = line.strip_prefix('[').and_then(|rest| {
        let (prefix, text) = rest.split_once("] ")?;
        let (node, rank) = prefix.rsplit_once('/')?;
        Some((node, rank.parse().ok()?, text))
    });
    match parsed {
        Some((node, rank, text)) => (node, Some(rank), text),
        None => ("", None, line),
    }
}

/// Runs the command.
pub fn run(args: &LogsArgs) -> anyhow::Result<Exit> {
    let home = jobs::home()?;
    let mut store = jobs::open_store(&home)?;
    let job = jobs::find(&mut store, &args.job)?;
    let mut printer = Printer {
        rank: args.rank,
        json: args.json,
        out: std::io::stdout().lock(),
    };
    let attempts = store
        .attempts(&job.id)
        .context("cannot read the attempts")?;
    if let Some(k) = args.attempt {
        if !attempts.iter().any(|a| a.number == k) && !args.follow {
            anyhow::bail!(
                "job {} has no attempt {k} (it has {})",
                job.id,
                attempts.len()
            );
        }
    }
    if args.follow {
        follow(&mut store, &job, args.attempt, &mut printer)?;
        return Ok(Exit::Clean);
    }
    let shown: Vec<_> = attempts
        .iter()
        .filter(|a| args.attempt.is_none_or(|k| a.number == k))
        .collect();
    for a in &shown {
        if shown.len() > 1 {
            printer.header(a.number, a.state.as_str())?;
        }
        print_attempt(&store, &job, a.number, &mut printer)?;
    }
    Ok(Exit::Clean)
}

fn merged_path(job_dir: &Path, attempt: u32) -> PathBuf {
    job_dir.join(format!("attempt-{attempt}")).join(MERGED_LOG)
}

/// Prints a finished (or running) attempt's output as it is now.
fn print_attempt(
    store: &Store,
    job: &Job,
    attempt: u32,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    let path = merged_path(&job.job_dir, attempt);
    if path.exists() {
        let mut tail = Tail::new(path);
        return tail.read_lines(|l| printer.line(attempt, l));
    }
    // No merged log (a job supervised by another tool): the ranks' own files, rank by rank.
    for r in store.ranks(&job.id, Some(attempt))? {
        for file in [&r.stdout_path, &r.stderr_path].into_iter().flatten() {
            let Ok(text) = std::fs::read_to_string(file) else {
                continue;
            };
            for l in text.lines() {
                printer.line(attempt, &format!("[{}/{}] {l}", r.node, r.rank))?;
            }
        }
    }
    Ok(())
}

/// `-f`: print what is there, then what comes, attempt after attempt, until the job ends.
fn follow(
    store: &mut Store,
    job: &Job,
    only: Option<u32>,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    let mut current: Option<(u32, Tail)> = None;
    loop {
        let state = jobs::find(store, job.id.as_str())?.state;
        let attempts = store.attempts(&job.id)?;
        let newest = attempts
            .iter()
            .map(|a| a.number)
            .filter(|n| only.is_none_or(|k| *n == k))
            .max();
        // Move to a newer attempt once the current one is read to its end.
        if let Some(n) = newest {
            if current.as_ref().is_none_or(|(k, _)| *k < n) {
                if let Some((k, mut tail)) = current.take() {
                    tail.read_lines(|l| printer.line(k, l))?;
                    tail.flush_partial(|l| printer.line(k, l))?;
                }
                if only.is_none() && n > 1 {
                    printer.header(n, "following")?;
                }
                current = Some((n, Tail::new(merged_path(&job.job_dir, n))));
            }
        }
        if let Some((k, tail)) = current.as_mut() {
            tail.read_lines(|l| printer.line(*k, l))?;
        }
        printer.out.flush()?;
        let attempt_over = only.is_some_and(|k| {
            attempts
                .iter()
                .any(|a| a.number == k && a.ended_at.is_some())
        });
        if state.is_terminal() || attempt_over {
            if let Some((k, mut tail)) = current.take() {
                tail.read_lines(|l| printer.line(k, l))?;
                tail.flush_partial(|l| printer.line(k, l))?;
            }
            return Ok(());
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

/// Reads a growing file line by line, remembering where it stopped.
struct Tail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// Hands every complete new line to `emit`; an unfinished last line waits for its end.
    fn read_lines(
        &mut self,
        mut emit: impl FnMut(&str) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", self.path.display()))
            }
        };
        file.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let Some(last_nl) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return Ok(());
        };
        let rest = self.partial.split_off(last_nl + 1);
        let complete = std::mem::replace(&mut self.partial, rest);
        for line in String::from_utf8_lossy(&complete).lines() {
            emit(line)?;
        }
        Ok(())
    }

    /// Hands an unfinished last line to `emit` (the file will not grow any more).
    fn flush_partial(
        &mut self,
        mut emit: impl FnMut(&str) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        if !self.partial.is_empty() {
            let line = String::from_utf8_lossy(&self.partial).into_owned();
            self.partial.clear();
            emit(&line)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(
            split_prefix("[local-1/3] step 5 loss 0.1"),
            ("local-1", Some(3), "step 5 loss 0.1")
        );
        assert_eq!(split_prefix("[x] y"), ("", None, "[x] y"));
        assert_eq!(split_prefix("plain"), ("", None, "plain"));
    }
}
