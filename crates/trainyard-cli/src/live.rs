//! What a running job shows: the merged log of its ranks, written to
//! `attempt-<k>/output.log` in arrival order (what `trainyard logs` reads), and, in the
//! foreground, the same lines on stdout with `[node/rank]` prefixes, the supervisor's events
//! on stderr and a status line kept at the bottom of a terminal.
//!
//! The driver calls the view from its IO threads, concurrently for different ranks, and the
//! sink from its own thread; one lock orders everything that reaches the terminal so the
//! status line is always cleared before a line is written and drawn again after it.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use trainyard_exec::{LiveView, OutputLine, ProgressRule};
use trainyard_job::Millis;

/// The merged log's file name inside `attempt-<k>/`.
pub const MERGED_LOG: &str = "output.log";

/// Appends every line to its attempt's merged log, in the order lines arrive.
#[derive(Debug)]
pub struct MergedLog {
    job_dir: PathBuf,
    files: Mutex<BTreeMap<u32, Option<File>>>,
}

impl MergedLog {
    /// Merged logs under `job_dir/attempt-<k>/`.
    pub fn new(job_dir: PathBuf) -> Self {
        Self {
            job_dir,
            files: Mutex::new(BTreeMap::new()),
        }
    }

    fn write(&self, line: &OutputLine<'_>) {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        // Attempts run one after another: close the files of earlier ones.
        if !files.contains_key(&line.attempt) {
            files.retain(|&k, _| k > line.attempt);
            let path = self
                .job_dir
                .join(format!("attempt-{}", line.attempt))
                .join(MERGED_LOG);
            let file = OpenOptions::new().create(true).append(true).open(&path);
            if let Err(err) = &file {
                tracing::warn!(path = %path.display(), %err, "cannot write the merged log");
            }
            files.insert(line.attempt, file.ok());
        }
        if let Some(Some(file)) = files.get_mut(&line.attempt) {
            // One write per line: a reader following the file never sees half a prefix.
            let text = format!("{line}\n");
            if let Err(err) = file.write_all(text.as_bytes()) {
                tracing::warn!(%err, "cannot write the merged log");
            }
        }
    }
}

/// What the status line says.
#[derive(Debug, Clone)]
pub struct Status {
    /// The job's name.
    pub name: String,
    /// The job's state (`running`, `backoff`, ...).
    pub state: String,
    /// The current attempt (0 before the first).
    pub attempt: u32,
    /// Ranks of the current attempt still running.
    pub alive: u32,
    /// Ranks per attempt.
    pub world: u32,
    /// The newest training step seen in the current attempt.
    pub step: Option<u64>,
    /// When the job started.
    pub since: Instant,
}

impl Status {
    /// A new attempt of `world` ranks begins.
    pub fn begin_attempt(&mut self, attempt: u32, world: u32) {
        self.attempt = attempt;
        self.world = world;
        self.alive = 0;
        self.step = None;
    }

    fn render(&self) -> String {
        let step = self
            .step
            .map_or_else(String::new, |s| format!(" · step {s}"));
        format!(
            "{} · {} · attempt {} · {}/{} ranks{step} · {}",
            self.name,
            self.state,
            self.attempt,
            self.alive,
            self.world,
            crate::time_fmt::duration(self.since.elapsed()),
        )
    }
}

/// The foreground launch's terminal: ranks' lines on stdout, events and the status line on
/// stderr.
pub struct Console {
    /// Print the ranks' lines (false: `--quiet` or `--json`).
    show_output: bool,
    /// Colour the `[node/rank]` prefixes (stdout is a terminal, NO_COLOR unset).
    colour: bool,
    /// Keep a status line at the bottom (stderr is a terminal).
    status_line: bool,
    /// Print events at all (false with `--json`).
    show_events: bool,
    state: Mutex<ConsoleState>,
}

struct ConsoleState {
    status: Status,
    drawn: bool,
}

impl Console {
    /// A console for job `name`; `show_output` and `show_events` say what is printed.
    pub fn new(name: &str, show_output: bool, show_events: bool) -> Self {
        let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            show_output,
            colour: std::io::stdout().is_terminal() && !no_colour,
            status_line: show_events && std::io::stderr().is_terminal(),
            show_events,
            state: Mutex::new(ConsoleState {
                status: Status {
                    name: name.to_string(),
                    state: "pending".to_string(),
                    attempt: 0,
                    alive: 0,
                    world: 0,
                    step: None,
                    since: Instant::now(),
                },
                drawn: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ConsoleState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the status and redraws it.
    pub fn update(&self, f: impl FnOnce(&mut Status)) {
        let mut state = self.lock();
        f(&mut state.status);
        self.draw(&mut state);
    }

    /// Redraws the status line (its clock moves).
    pub fn redraw(&self) {
        let mut state = self.lock();
        self.draw(&mut state);
    }

    /// A supervisor event, on stderr.
    pub fn event(&self, message: &str) {
        if !self.show_events {
            return;
        }
        let mut state = self.lock();
        self.clear(&mut state);
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "trainyard: {message}");
        self.draw(&mut state);
    }

    /// Clears the status line for good (the job is over).
    pub fn finish(&self) {
        let mut state = self.lock();
        self.clear(&mut state);
    }

    fn clear(&self, state: &mut ConsoleState) {
        if state.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            state.drawn = false;
        }
    }

    fn draw(&self, state: &mut ConsoleState) {
        if !self.status_line {
            return;
        }
        let mut text = state.status.render();
        // Never wrap: a wrapped status line cannot be cleared with one escape.
        if let Some((cut, _)) = text.char_indices().nth(79) {
            text.truncate(cut);
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K\x1b[7m{text}\x1b[0m");
        let _ = err.flush();
        state.drawn = true;
    }

    fn line(&self, line: &OutputLine<'_>) {
        if !self.show_output {
            return;
        }
        let text = if self.colour {
            // One of six colours per node, so each node's ranks read as a group.
            let hue = 31
                + line
                    .node
                    .bytes()
                    .fold(0u32, |h, b| h.wrapping_add(u32::from(b)))
                    % 6;
            format!(
                "\x1b[{hue}m[{}/{}]\x1b[0m {}\n",
                line.node, line.rank, line.text
            )
        } else {
            format!("{line}\n")
        };
        let mut state = self.lock();
        self.clear(&mut state);
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        drop(out);
        self.draw(&mut state);
    }
}

/// Progress seen in output lines, to the millisecond: when an attempt's first progress line
/// came, its last, and the highest step. The driver tells the sink about progress only once
/// a second (with the heartbeat's time), which would make a short job's startup look a
/// second longer and miss its last steps; the sink corrects the store's times with these.
#[derive(Debug, Default)]
pub struct ProgressMarks(Mutex<BTreeMap<u32, Marks>>);

/// One attempt's [`ProgressMarks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marks {
    /// The first progress line.
    pub first: Millis,
    /// The newest progress line.
    pub last: Millis,
    /// The highest step seen.
    pub step: Option<u64>,
    /// Stopping: later lines are the tail of a dying attempt, not training.
    pub frozen: bool,
}

impl ProgressMarks {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, Marks>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn seen(&self, attempt: u32, step: Option<u64>) {
        let now = trainyard_store::now();
        let mut marks = self.lock();
        let m = marks.entry(attempt).or_insert(Marks {
            first: now,
            last: now,
            step: None,
            frozen: false,
        });
        if !m.frozen {
            m.last = now;
            m.step = m.step.max(step);
        }
    }

    /// The attempt's marks, if it made progress.
    pub fn get(&self, attempt: u32) -> Option<Marks> {
        self.lock().get(&attempt).copied()
    }

    /// The attempt is stopping: ignore its later lines.
    pub fn freeze(&self, attempt: u32) {
        if let Some(m) = self.lock().get_mut(&attempt) {
            m.frozen = true;
        }
    }
}

/// The view the driver gets: the merged log, progress marks, plus the console in the
/// foreground.
pub struct View {
    /// Where every line is kept.
    pub merged: MergedLog,
    /// What counts as progress (the spec's `progress_regex`, else every line).
    pub rule: ProgressRule,
    /// Progress times for the sink.
    pub marks: Arc<ProgressMarks>,
    /// The terminal, in the foreground.
    pub console: Option<Arc<Console>>,
}

impl LiveView for View {
    fn line(&self, line: &OutputLine<'_>) {
        self.merged.write(line);
        if let Some(step) = self.rule.check(line.text) {
            self.marks.seen(line.attempt, step);
        }
        if let Some(console) = &self.console {
            console.line(line);
        }
    }
}
