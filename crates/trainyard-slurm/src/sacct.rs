//! `sacct` output: `--json` (dbv0.0.38 in 22.05, newer shapes tolerated) and `--parsable2`.
//!
//! Known 22.05.8 quirk, seen on the captured fixture: `sacct --json` reports a batch script's
//! `exit 3` as `{"status": "SUCCESS", "return_code": 0}` while `--parsable2` says `3:0`. So
//! [`parse_parsable2`] is the reader to trust for exit codes on 22.05; the JSON is fine for
//! states, reasons and nodes.

use serde_json::Value;

use crate::hostlist;
use crate::state::JobState;

/// One job (not step) as sacct reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SacctJob {
    /// Slurm's job id.
    pub job_id: u64,
    /// Its state.
    pub state: JobState,
    /// Slurm's reason (pending reason or why it ended); `None` when Slurm says `None`.
    pub reason: Option<String>,
    /// Exit code of the batch script, when it exited.
    pub exit_code: Option<i32>,
    /// Signal that ended it, when one did.
    pub signal: Option<i32>,
    /// Nodes of the allocation, expanded.
    pub nodes: Vec<String>,
}

/// sacct's output could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read sacct output: {0}")]
pub struct SacctError(pub String);

/// Parses `sacct --json` (22.05's dbv0.0.38; 23.02+ lists and `{set, number}` tolerated).
/// Steps are skipped; only jobs are returned.
pub fn parse_json(text: &str) -> Result<Vec<SacctJob>, SacctError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| SacctError(e.to_string()))?;
    if let Some(msg) = first_error(&doc) {
        return Err(SacctError(msg));
    }
    let jobs = doc
        .get("jobs")
        .and_then(Value::as_array)
        .ok_or_else(|| SacctError("no \"jobs\" array".into()))?;
    jobs.iter().map(job_from_json).collect()
}

/// The first entry of the document's `errors` list, if any (Slurm reports failures there
/// with exit status 0 in some versions).
fn first_error(doc: &Value) -> Option<String> {
    let e = doc.get("errors")?.as_array()?.first()?;
    let text = e
        .get("error")
        .or_else(|| e.get("description"))
        .and_then(Value::as_str)
        .unwrap_or("unknown error");
    Some(text.to_string())
}

fn job_from_json(job: &Value) -> Result<SacctJob, SacctError> {
    let job_id = job
        .get("job_id")
        .and_then(Value::as_u64)
        .ok_or_else(|| SacctError("a job without job_id".into()))?;
    // 22.05: state = {current: "FAILED", reason}; 23.02+: current = ["FAILED"]; some
    // plugins write job_state directly.
    let state_v = job.get("state");
    let current = state_v
        .and_then(|s| s.get("current"))
        .or_else(|| job.get("job_state"))
        .or(state_v.filter(|s| !s.is_object()));
    let state = JobState::parse(&first_word(current).unwrap_or_default());
    let reason = state_v
        .and_then(|s| s.get("reason"))
        .and_then(Value::as_str)
        .filter(|r| *r != "None" && !r.is_empty())
        .map(str::to_string);
    let (exit_code, signal) = exit_from_json(job.get("exit_code"));
    let nodes = match job.get("nodes").and_then(Value::as_str) {
        Some(list) if list != "None assigned" => {
            hostlist::expand(list).map_err(|e| SacctError(e.to_string()))?
        }
        _ => Vec::new(),
    };
    Ok(SacctJob {
        job_id,
        state,
        reason,
        exit_code,
        signal,
        nodes,
    })
}

/// A string, or the first string of a list (23.02+ turned several enums into flag lists).
pub(crate) fn first_word(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => a.iter().find_map(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// A number, or 23.02+'s `{set, infinite, number}`; `None` when null or unset.
pub(crate) fn number(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::Object(o) if o.get("set").and_then(Value::as_bool) != Some(false) => {
            o.get("number").and_then(Value::as_i64)
        }
        _ => None,
    }
}

/// `exit_code: {status, return_code, signal: {signal_id}}` → (code, signal).
fn exit_from_json(v: Option<&Value>) -> (Option<i32>, Option<i32>) {
    let Some(v) = v else { return (None, None) };
    if let Some(n) = v.as_i64() {
        return (i32::try_from(n).ok(), None);
    }
    let signal = number(v.get("signal").and_then(|s| s.get("signal_id")))
        .or_else(|| number(v.get("signal").and_then(|s| s.get("id"))))
        .and_then(|n| i32::try_from(n).ok())
        .filter(|s| *s != 0);
    let status = first_word(v.get("status")).unwrap_or_default();
    let code = if status == "SIGNALED" {
        None
    } else {
        number(v.get("return_code")).and_then(|n| i32::try_from(n).ok())
    };
    (code, signal)
}

/// The `--format` that [`parse_parsable2`] expects (sacct's own header names).
pub const PARSABLE2_FORMAT: &str = "JobID,State,ExitCode,NodeList,Reason";

/// Parses `sacct --parsable2 -o JobID,State,ExitCode,NodeList,Reason` (header included;
/// columns found by name, so another order or extra columns are fine). Step rows
/// (`6.batch`, `6.0`) are skipped.
pub fn parse_parsable2(text: &str) -> Result<Vec<SacctJob>, SacctError> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| SacctError("empty output (no header)".into()))?
        .split('|')
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| SacctError(format!("no {name} column in header")))
    };
    let (c_id, c_state, c_exit, c_nodes) = (
        col("JobID")?,
        col("State")?,
        col("ExitCode")?,
        col("NodeList")?,
    );
    let c_reason = col("Reason").ok();
    let mut jobs = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split('|').collect();
        let get = |i: usize| f.get(i).copied().unwrap_or("");
        let Ok(job_id) = get(c_id).parse::<u64>() else {
            continue; // a step (`6.batch`) or an array/het id we do not submit
        };
        // ExitCode is `code:signal`.
        let (code, sig) = get(c_exit).split_once(':').unwrap_or((get(c_exit), "0"));
        let signal = sig.parse::<i32>().ok().filter(|s| *s != 0);
        let exit_code = if signal.is_some() {
            None
        } else {
            code.parse().ok()
        };
        let nodes = match get(c_nodes) {
            "" | "None assigned" => Vec::new(),
            list => hostlist::expand(list).map_err(|e| SacctError(e.to_string()))?,
        };
        jobs.push(SacctJob {
            job_id,
            state: JobState::parse(get(c_state)),
            reason: c_reason
                .map(get)
                .filter(|r| !r.is_empty() && *r != "None")
                .map(str::to_string),
            exit_code,
            signal,
            nodes,
        });
    }
    Ok(jobs)
}
