//! `job.toml` → [`JobSpec`], walking the TOML document by hand so every error can point at the
//! key or value it is about.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml_edit::{Document, Item, TableLike};

use super::error::{did_you_mean, line_col, SpecError, SpecErrorKind};
use super::{Backend, JobSpec, ProgressRegex, SlurmSpec};
use crate::backoff::Backoff;
use crate::duration::{parse_duration, DURATION_HINT};

/// Every top-level key, in documentation order.
pub(super) const TOP_KEYS: &[&str] = &[
    "name",
    "command",
    "env",
    "workdir",
    "nodes",
    "procs_per_node",
    "max_restarts",
    "restart_backoff",
    "hang_timeout",
    "progress_regex",
    "stop_grace",
    "checkpoint_dir",
    "backend",
    "node_failure_limit",
    "spare_nodes",
    "slurm",
];
const BACKOFF_KEYS: &[&str] = &["initial", "max", "factor"];
const SLURM_KEYS: &[&str] = &["partition", "time_limit", "drain_bad_nodes", "extra_args"];

/// Upper bounds that catch typos (`nodes = 10000000`) rather than limit real clusters.
const MAX_NODES: i64 = 1_000_000;
const MAX_PROCS_PER_NODE: i64 = 1_024;
const MAX_NAME_LEN: usize = 64;

/// The file being parsed, for turning spans into positions.
struct Ctx<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Ctx<'_> {
    fn err(
        &self,
        span: Option<Range<usize>>,
        kind: SpecErrorKind,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> SpecError {
        let (line, column) = span.map_or((1, 1), |s| line_col(self.text, s.start));
        SpecError {
            path: self.path.to_path_buf(),
            line,
            column,
            kind,
            message: message.into(),
            hint,
        }
    }

    fn wrong_type(&self, f: &Field<'_>, expected: &str, hint: Option<String>) -> SpecError {
        self.err(
            f.span(),
            SpecErrorKind::WrongType,
            format!(
                "{}: expected {expected}, found {}",
                f.name,
                f.item.type_name()
            ),
            hint,
        )
    }

    fn bad(
        &self,
        f: &Field<'_>,
        message: impl std::fmt::Display,
        hint: Option<String>,
    ) -> SpecError {
        self.err(
            f.span(),
            SpecErrorKind::BadValue,
            format!("{}: {message}", f.name),
            hint,
        )
    }
}

/// A key's value with where it was written.
struct Field<'a> {
    /// Dotted name for messages (`restart_backoff.factor`).
    name: String,
    item: &'a Item,
    key_span: Option<Range<usize>>,
}

impl Field<'_> {
    /// The value's span, else the key's (implicit tables have none of their own).
    fn span(&self) -> Option<Range<usize>> {
        self.item.span().or_else(|| self.key_span.clone())
    }
}

/// The fields of a table, after rejecting keys not in `known`.
fn fields<'a>(
    cx: &Ctx<'_>,
    table: &'a dyn TableLike,
    prefix: &str,
    known: &[&str],
) -> Result<Vec<Field<'a>>, SpecError> {
    let mut out = Vec::new();
    for (key, item) in table.iter() {
        let key_span = table.key(key).and_then(toml_edit::Key::span);
        let name = if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        };
        if !known.contains(&key) {
            let hint = match did_you_mean(key, known) {
                Some(k) => format!("did you mean `{k}`?"),
                None => format!("known keys: {}", known.join(", ")),
            };
            return Err(cx.err(
                key_span,
                SpecErrorKind::UnknownKey,
                format!("unknown key `{name}`"),
                Some(hint),
            ));
        }
        out.push(Field {
            name,
            item,
            key_span,
        });
    }
    Ok(out)
}

pub(super) fn parse(text: &str, path: &Path) -> Result<JobSpec, SpecError> {
    let cx = Ctx { text, path };
    let doc = Document::parse(text).map_err(|e| {
        cx.err(
            e.span(),
            SpecErrorKind::Syntax,
            format!("not valid TOML: {}", e.message().trim()),
            None,
        )
    })?;

    let mut spec = JobSpec::default_for_command(Vec::new());
    let mut name = None;
    let mut command_seen = false;
    for f in fields(&cx, doc.as_table(), "", TOP_KEYS)? {
        match f.name.as_str() {
            "name" => name = Some(job_name(&cx, &f)?),
            "command" => {
                spec.command = command(&cx, &f)?;
                command_seen = true;
            }
            "env" => spec.env = env(&cx, &f)?,
            "workdir" => spec.workdir = Some(path_value(&cx, &f)?),
            "nodes" => spec.nodes = int(&cx, &f, 1, MAX_NODES)?,
            "procs_per_node" => spec.procs_per_node = int(&cx, &f, 1, MAX_PROCS_PER_NODE)?,
            "max_restarts" => spec.max_restarts = int(&cx, &f, 0, i64::from(u32::MAX))?,
            "restart_backoff" => spec.restart_backoff = backoff(&cx, &f)?,
            "hang_timeout" => spec.hang_timeout = hang_timeout(&cx, &f)?,
            "progress_regex" => spec.progress_regex = Some(progress_regex(&cx, &f)?),
            "stop_grace" => spec.stop_grace = duration(&cx, &f)?,
            "checkpoint_dir" => spec.checkpoint_dir = Some(path_value(&cx, &f)?),
            "backend" => spec.backend = backend(&cx, &f)?,
            "node_failure_limit" => spec.node_failure_limit = int(&cx, &f, 1, i64::from(u32::MAX))?,
            "spare_nodes" => spec.spare_nodes = int(&cx, &f, 0, MAX_NODES)?,
            "slurm" => spec.slurm = slurm(&cx, &f)?,
            // `fields` only lets known keys through.
            _ => {}
        }
    }
    if !command_seen {
        return Err(cx.err(
            None,
            SpecErrorKind::Missing,
            "missing key `command`",
            Some("command = [\"python3\", \"train.py\"]".to_owned()),
        ));
    }
    spec.name = match name {
        Some(n) => n,
        None => default_name(&cx)?,
    };
    Ok(spec)
}

fn str_value<'a>(cx: &Ctx<'_>, f: &Field<'a>) -> Result<&'a str, SpecError> {
    f.item
        .as_str()
        .ok_or_else(|| cx.wrong_type(f, "a string", None))
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

const NAME_HINT: &str = "names use letters, digits, `.`, `_` and `-`, at most 64 characters";

fn job_name(cx: &Ctx<'_>, f: &Field<'_>) -> Result<String, SpecError> {
    let s = str_value(cx, f)?;
    if !valid_name(s) {
        return Err(cx.bad(
            f,
            format!("{s:?} is not a valid job name"),
            Some(NAME_HINT.to_owned()),
        ));
    }
    Ok(s.to_owned())
}

/// Without a `name`, the file's stem names the job (`bert.toml` → `bert`).
fn default_name(cx: &Ctx<'_>) -> Result<String, SpecError> {
    let stem = cx.path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if valid_name(stem) {
        Ok(stem.to_owned())
    } else {
        Err(cx.err(
            None,
            SpecErrorKind::Missing,
            format!("missing key `name`, and the file name {stem:?} cannot stand in for it"),
            Some(format!("name = \"my-job\"; {NAME_HINT}")),
        ))
    }
}

fn string_array(cx: &Ctx<'_>, f: &Field<'_>, hint: &str) -> Result<Vec<String>, SpecError> {
    let Some(arr) = f.item.as_array() else {
        return Err(cx.wrong_type(f, "an array of strings", Some(hint.to_owned())));
    };
    let mut out = Vec::with_capacity(arr.len());
    for (i, v) in arr.iter().enumerate() {
        match v.as_str() {
            Some(s) => out.push(s.to_owned()),
            None => {
                return Err(cx.err(
                    v.span(),
                    SpecErrorKind::WrongType,
                    format!(
                        "{}[{i}]: expected a string, found {}",
                        f.name,
                        v.type_name()
                    ),
                    Some("quote every element, numbers too: \"--steps\", \"200\"".to_owned()),
                ))
            }
        }
    }
    Ok(out)
}

fn command(cx: &Ctx<'_>, f: &Field<'_>) -> Result<Vec<String>, SpecError> {
    const HINT: &str = "command = [\"python3\", \"train.py\", \"--steps\", \"100\"] (no shell: one element per argument)";
    let cmd = string_array(cx, f, HINT)?;
    match cmd.first() {
        None => Err(cx.bad(f, "is empty", Some(HINT.to_owned()))),
        Some(p) if p.trim().is_empty() => {
            Err(cx.bad(f, "the program name is empty", Some(HINT.to_owned())))
        }
        Some(_) => Ok(cmd),
    }
}

fn env(
    cx: &Ctx<'_>,
    f: &Field<'_>,
) -> Result<std::collections::BTreeMap<String, String>, SpecError> {
    let Some(table) = f.item.as_table_like() else {
        return Err(cx.wrong_type(
            f,
            "a table",
            Some("env = { OMP_NUM_THREADS = \"1\" } or an [env] section".to_owned()),
        ));
    };
    let mut out = std::collections::BTreeMap::new();
    for (key, item) in table.iter() {
        let key_span = table.key(key).and_then(toml_edit::Key::span);
        let field = Field {
            name: format!("env.{key}"),
            item,
            key_span: key_span.clone(),
        };
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            return Err(cx.err(
                key_span,
                SpecErrorKind::BadValue,
                format!("env: {key:?} is not a valid variable name"),
                Some("variable names cannot be empty or contain `=`".to_owned()),
            ));
        }
        let Some(value) = item.as_str() else {
            return Err(cx.wrong_type(
                &field,
                "a string",
                Some(format!("quote it: {key} = \"...\"")),
            ));
        };
        if value.contains('\0') {
            return Err(cx.bad(&field, "contains a NUL byte", None));
        }
        out.insert(key.to_owned(), value.to_owned());
    }
    Ok(out)
}

fn path_value(cx: &Ctx<'_>, f: &Field<'_>) -> Result<PathBuf, SpecError> {
    let s = str_value(cx, f)?;
    if s.is_empty() || s.contains('\0') {
        return Err(cx.bad(f, "is not a usable path", None));
    }
    Ok(PathBuf::from(s))
}

fn int(cx: &Ctx<'_>, f: &Field<'_>, min: i64, max: i64) -> Result<u32, SpecError> {
    let Some(n) = f.item.as_integer() else {
        let hint = f
            .item
            .as_str()
            .map(|s| format!("write it without quotes: {} = {s}", f.name));
        return Err(cx.wrong_type(f, "an integer", hint));
    };
    if n < min || n > max {
        return Err(cx.bad(
            f,
            format!("{n} is out of range"),
            Some(format!("use {min}..={max}")),
        ));
    }
    u32::try_from(n).map_err(|_| cx.bad(f, format!("{n} is out of range"), None))
}

fn duration(cx: &Ctx<'_>, f: &Field<'_>) -> Result<Duration, SpecError> {
    let Some(s) = f.item.as_str() else {
        let hint = match f.item.as_integer() {
            Some(n) => format!("{DURATION_HINT}; did you mean \"{n}s\"?"),
            None => DURATION_HINT.to_owned(),
        };
        return Err(cx.wrong_type(f, "a duration string", Some(hint)));
    };
    parse_duration(s).map_err(|e| cx.bad(f, e, Some(DURATION_HINT.to_owned())))
}

fn hang_timeout(cx: &Ctx<'_>, f: &Field<'_>) -> Result<Option<Duration>, SpecError> {
    if f.item.as_str() == Some("off") {
        return Ok(None);
    }
    let d = duration(cx, f)?;
    if d.is_zero() {
        return Err(cx.bad(
            f,
            "must be longer than 0",
            Some("write \"off\" to disable hang detection".to_owned()),
        ));
    }
    Ok(Some(d))
}

fn backoff(cx: &Ctx<'_>, f: &Field<'_>) -> Result<Backoff, SpecError> {
    let mut b = Backoff::default();
    // A plain duration sets the first delay; growth and cap keep their defaults.
    if f.item.as_str().is_some() {
        b.initial = duration(cx, f)?;
        b.max = b.max.max(b.initial);
        return Ok(b);
    }
    let Some(table) = f.item.as_table_like() else {
        return Err(cx.wrong_type(
            f,
            "a duration or a table",
            Some(
                "restart_backoff = \"5s\" or { initial = \"5s\", max = \"5m\", factor = 2 }"
                    .to_owned(),
            ),
        ));
    };
    let mut max_seen = None;
    for sub in fields(cx, table, &f.name, BACKOFF_KEYS)? {
        match sub.name.rsplit('.').next().unwrap_or("") {
            "initial" => b.initial = duration(cx, &sub)?,
            "max" => max_seen = Some((duration(cx, &sub)?, sub)),
            "factor" => {
                let v = sub
                    .item
                    .as_float()
                    .or_else(|| sub.item.as_integer().map(|i| i as f64))
                    .ok_or_else(|| {
                        cx.wrong_type(&sub, "a number", Some("factor = 2".to_owned()))
                    })?;
                if !(1.0..=100.0).contains(&v) {
                    return Err(cx.bad(
                        &sub,
                        format!("{v} is out of range"),
                        Some("use 1 (fixed delay) to 100".to_owned()),
                    ));
                }
                b.factor = v;
            }
            _ => {}
        }
    }
    match max_seen {
        Some((max, sub)) if max < b.initial => {
            return Err(cx.bad(
                &sub,
                format!(
                    "the cap ({}) is shorter than the first delay ({})",
                    crate::duration::format_duration(max),
                    crate::duration::format_duration(b.initial)
                ),
                None,
            ))
        }
        Some((max, _)) => b.max = max,
        None => b.max = b.max.max(b.initial),
    }
    Ok(b)
}

fn progress_regex(cx: &Ctx<'_>, f: &Field<'_>) -> Result<ProgressRegex, SpecError> {
    let s = str_value(cx, f)?;
    ProgressRegex::new(s).map_err(|e| {
        // The regex crate's message spans several lines with a caret; keep its last line.
        let msg = e.to_string();
        let last = msg.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid").trim().to_owned();
        cx.bad(
            f,
            format!("not a valid regular expression: {last}"),
            Some("e.g. 'step (\\d+)' (single quotes keep backslashes literal; the first group is the step)".to_owned()),
        )
    })
}

fn backend(cx: &Ctx<'_>, f: &Field<'_>) -> Result<Backend, SpecError> {
    match str_value(cx, f)? {
        "local" => Ok(Backend::Local),
        "slurm" => Ok(Backend::Slurm),
        other => Err(cx.bad(
            f,
            format!("unknown backend {other:?}"),
            Some("backend = \"local\" or \"slurm\"".to_owned()),
        )),
    }
}

fn slurm(cx: &Ctx<'_>, f: &Field<'_>) -> Result<SlurmSpec, SpecError> {
    let Some(table) = f.item.as_table_like() else {
        return Err(cx.wrong_type(f, "a table", Some("a [slurm] section".to_owned())));
    };
    let mut s = SlurmSpec::default();
    for sub in fields(cx, table, "slurm", SLURM_KEYS)? {
        match sub.name.as_str() {
            "slurm.partition" => s.partition = Some(str_value(cx, &sub)?.to_owned()),
            "slurm.time_limit" => s.time_limit = Some(str_value(cx, &sub)?.to_owned()),
            "slurm.drain_bad_nodes" => {
                s.drain_bad_nodes = sub
                    .item
                    .as_bool()
                    .ok_or_else(|| cx.wrong_type(&sub, "true or false", None))?;
            }
            "slurm.extra_args" => {
                s.extra_args =
                    string_array(cx, &sub, "extra_args = [\"--exclusive\", \"--gres=gpu:8\"]")?;
            }
            _ => {}
        }
    }
    Ok(s)
}

/// Whether the parser knows `k` as a top-level key (the writer's tests check every key it writes).
#[cfg(test)]
pub(super) fn is_known_top_key(k: &str) -> bool {
    TOP_KEYS.contains(&k)
}
