//! Capturing a rank's stdout and stderr: to its own files, to the live merged view, to the
//! stderr tail used for failure attribution, and to the progress detector.
//!
//! Each pipe has its own task that always reads (the way nextest's `ChildAccumulator` drains
//! both pipes at once): a rank blocked on a full stderr pipe while we wait on its stdout would
//! look hung. Bytes go to the file exactly as read, whatever the line structure; line
//! splitting only feeds the live view, the tail and the progress detector.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::progress::{Coalescer, ProgressRule};

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// The rank's standard output.
    Stdout,
    /// The rank's standard error.
    Stderr,
}

impl Stream {
    /// The log file's extension: `out` or `err`.
    pub fn extension(self) -> &'static str {
        match self {
            Stream::Stdout => "out",
            Stream::Stderr => "err",
        }
    }
}

/// One line of a rank's output, as the live view receives it.
#[derive(Debug, Clone, Copy)]
pub struct OutputLine<'a> {
    /// The attempt the rank belongs to.
    pub attempt: u32,
    /// The node the rank runs on (`local-0`).
    pub node: &'a str,
    /// The global rank.
    pub rank: u32,
    /// The pipe.
    pub stream: Stream,
    /// The line, without its line ending; invalid UTF-8 replaced.
    pub text: &'a str,
}

impl std::fmt::Display for OutputLine<'_> {
    /// `[local-0/3] text`: the merged view's format.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}/{}] {}", self.node, self.rank, self.text)
    }
}

/// Receives every line of every rank as it arrives: the live merged view.
///
/// Called from the driver's IO threads, concurrently for different ranks, so it must be quick
/// (print, count, forward to a channel); a slow view slows the ranks' pipes.
pub trait LiveView: Send + Sync {
    /// One line.
    fn line(&self, line: &OutputLine<'_>);
}

impl<F> LiveView for F
where
    F: Fn(&OutputLine<'_>) + Send + Sync,
{
    fn line(&self, line: &OutputLine<'_>) {
        self(line)
    }
}

/// How many stderr lines are kept per rank for the failure report.
pub const TAIL_LINES: usize = 20;
/// Longest tail line kept, in bytes; a binary blob on stderr must not bloat the event log.
const TAIL_LINE_MAX: usize = 500;
/// A "line" longer than this is cut into pieces for the view and the detector, so a rank
/// writing without newlines cannot grow our memory without bound.
const LINE_MAX: usize = 1 << 20;
/// Read buffer per pipe.
const READ_BUF: usize = 64 * 1024;

/// The last [`TAIL_LINES`] lines of a rank's stderr, shared with the task that reports its exit.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tail(Arc<Mutex<TailLines>>);

#[derive(Debug, Default)]
struct TailLines {
    lines: VecDeque<String>,
    /// When the newest line arrived, in nanoseconds since the UNIX epoch.
    last_at: Option<u128>,
}

impl Tail {
    fn push(&self, line: &str) {
        let mut cut = line.len().min(TAIL_LINE_MAX);
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut tail = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if tail.lines.len() == TAIL_LINES {
            tail.lines.pop_front();
        }
        tail.lines.push_back(line[..cut].to_string());
        tail.last_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_nanos());
    }

    /// The kept lines, oldest first.
    pub(crate) fn lines(&self) -> Vec<String> {
        let tail = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        tail.lines.iter().cloned().collect()
    }

    /// When the newest line arrived (nanoseconds since the UNIX epoch).
    pub(crate) fn last_at(&self) -> Option<u128> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_at
    }
}

/// Who produced the output, for the live view.
#[derive(Debug)]
pub(crate) struct Source {
    pub attempt: u32,
    pub rank: u32,
    pub node: Arc<str>,
}

/// Everything one pipe's reader feeds.
pub(crate) struct Sinks<P> {
    /// The log file; `None` if it could not be created (we still drain the pipe).
    pub file: Option<PathBuf>,
    pub view: Option<Arc<dyn LiveView>>,
    /// Stderr only.
    pub tail: Option<Tail>,
    pub rule: Arc<ProgressRule>,
    /// Called with each coalesced progress observation.
    pub progress: P,
}

/// Reads `pipe` to its end, feeding `sinks`; returns the number of lines seen.
pub(crate) async fn capture<R, P>(
    pipe: R,
    stream: Stream,
    source: Arc<Source>,
    sinks: Sinks<P>,
) -> u64
where
    R: AsyncRead + Unpin,
    P: FnMut(Option<u64>),
{
    let Sinks {
        file,
        view,
        tail,
        rule,
        mut progress,
    } = sinks;
    let mut file = file.and_then(|path| match File::create(&path) {
        Ok(f) => Some((BufWriter::with_capacity(READ_BUF, f), path)),
        Err(err) => {
            tracing::warn!(path = %path.display(), %err, "cannot create rank log; output only in the live view");
            None
        }
    });
    let mut reader = BufReader::with_capacity(READ_BUF, pipe);
    let mut coalescer = Coalescer::default();
    let mut partial: Vec<u8> = Vec::new();
    let mut lines = 0u64;

    let mut emit = |bytes: &[u8], coalescer: &mut Coalescer| {
        let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let text = String::from_utf8_lossy(bytes);
        if let Some(view) = &view {
            view.line(&OutputLine {
                attempt: source.attempt,
                node: &source.node,
                rank: source.rank,
                stream,
                text: &text,
            });
        }
        if let Some(tail) = &tail {
            tail.push(&text);
        }
        if let Some(step) = rule.check(&text) {
            if let Some(event) = coalescer.offer(step, Instant::now()) {
                progress(event);
            }
        }
    };

    loop {
        let buf = match reader.fill_buf().await {
            Ok([]) => break,
            Ok(buf) => buf,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => {
                tracing::warn!(rank = source.rank, ?stream, %err, "reading rank output failed");
                break;
            }
        };
        if let Some((writer, path)) = &mut file {
            if let Err(err) = writer.write_all(buf) {
                tracing::warn!(path = %path.display(), %err, "writing rank log failed; no more output goes to it");
                file = None;
            }
        }
        let mut rest = buf;
        while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
            let (line, after) = rest.split_at(newline + 1);
            if partial.is_empty() {
                emit(line, &mut coalescer);
            } else {
                partial.extend_from_slice(line);
                emit(&partial, &mut coalescer);
                partial.clear();
            }
            lines += 1;
            rest = after;
        }
        partial.extend_from_slice(rest);
        if partial.len() >= LINE_MAX {
            emit(&partial, &mut coalescer);
            partial.clear();
            lines += 1;
        }
        let consumed = buf.len();
        reader.consume(consumed);
        // We consumed everything read: nothing more is buffered, so flush now and `logs -f`
        // sees the lines at once. Under a flood the reads are large, so flushes stay rare.
        if let Some((writer, path)) = &mut file {
            if let Err(err) = writer.flush() {
                tracing::warn!(path = %path.display(), %err, "writing rank log failed; no more output goes to it");
                file = None;
            }
        }
    }
    if !partial.is_empty() {
        emit(&partial, &mut coalescer);
        lines += 1;
    }
    if let Some(event) = coalescer.flush() {
        progress(event);
    }
    if let Some((mut writer, path)) = file {
        if let Err(err) = writer.flush() {
            tracing::warn!(path = %path.display(), %err, "flushing rank log failed");
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> Arc<Source> {
        Arc::new(Source {
            attempt: 1,
            rank: 3,
            node: Arc::from("local-1"),
        })
    }

    #[tokio::test]
    async fn splits_lines_writes_bytes_and_keeps_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rank-3.err");
        let mut input = Vec::new();
        for i in 0..30 {
            input.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        input.extend_from_slice(b"no newline at end");
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let view: Arc<dyn LiveView> = {
            let seen = Arc::clone(&seen);
            Arc::new(move |line: &OutputLine<'_>| {
                seen.lock().expect("not poisoned").push(line.to_string());
            })
        };
        let tail = Tail::default();
        let mut steps = Vec::new();
        let lines = capture(
            &input[..],
            Stream::Stderr,
            source(),
            Sinks {
                file: Some(path.clone()),
                view: Some(view),
                tail: Some(tail.clone()),
                rule: Arc::new(ProgressRule::default()),
                progress: |step| steps.push(step),
            },
        )
        .await;
        assert_eq!(lines, 31);
        assert_eq!(std::fs::read(&path).expect("log file"), input);
        let seen = seen.lock().expect("not poisoned");
        assert_eq!(seen.first().map(String::as_str), Some("[local-1/3] line 0"));
        assert_eq!(
            seen.last().map(String::as_str),
            Some("[local-1/3] no newline at end")
        );
        let tail = tail.lines();
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail.last().map(String::as_str), Some("no newline at end"));
        // Coalesced: one event at the first line, one flushed at the end.
        assert!(!steps.is_empty() && steps.len() <= 2, "{steps:?}");
    }
}
