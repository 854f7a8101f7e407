//! `sinfo -h -N -o '%N|%t|%E'`: one line per node with its compact state and reason.

/// The `-o` format [`parse`] reads (with `-h -N`).
pub const FORMAT: &str = "%N|%t|%E";

/// One node as `sinfo -N` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// Compact state (`idle`, `mix`, `alloc`, `drain`, `down*` ...), without the flag suffix.
    pub state: String,
    /// True when the state carried `*` (not responding) or is down/drained/failing.
    pub unusable: bool,
    /// The admin reason (`scontrol update ... reason=`), `None` for `none`.
    pub reason: Option<String>,
}

/// Parses `sinfo -h -N -o '%N|%t|%E'`. A node in several partitions appears once per
/// partition; duplicates are folded.
pub fn parse(text: &str) -> Vec<NodeInfo> {
    let mut nodes: Vec<NodeInfo> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.splitn(3, '|');
        let (Some(name), Some(state)) = (f.next(), f.next()) else {
            continue;
        };
        let raw = state.trim();
        // Suffixes: `*` not responding, `~` powered off, `#` powering up, `%` powering down,
        // `$` maintenance reservation, `@` pending reboot, `!`/`-` planned (newer versions).
        let base = raw.trim_end_matches(['*', '~', '#', '%', '$', '@', '!', '-', '^']);
        let unusable = raw.ends_with('*')
            || ["down", "drain", "drng", "fail", "failg", "maint", "unk"]
                .iter()
                .any(|s| base.starts_with(s));
        let name = name.trim().to_string();
        if nodes.iter().any(|n| n.name == name) {
            continue;
        }
        nodes.push(NodeInfo {
            name,
            state: base.to_string(),
            unusable,
            reason: f
                .next()
                .map(str::trim)
                .filter(|r| !r.is_empty() && *r != "none")
                .map(str::to_string),
        });
    }
    nodes
}

/// The `format=` of `sacctmgr -n -P list event` that [`parse_events`] reads.
pub const EVENT_FORMAT: &str = "NodeName,State,Reason";

/// A node's state change as accounting recorded it (`sacctmgr list event`): it outlives the
/// state itself, which a node that comes back (`ReturnToService`) loses within a second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEvent {
    /// Node name.
    pub node: String,
    /// The state it entered (`DOWN`, `DRAIN`, `FAIL`, `DOWN*`, ...).
    pub state: String,
    /// The reason recorded with it, if any.
    pub reason: Option<String>,
}

impl NodeEvent {
    /// The node went down or failed (a drain alone ends no job).
    #[must_use]
    pub fn is_failure(&self) -> bool {
        let s = self.state.to_ascii_uppercase();
        s.contains("DOWN") || s.contains("FAIL")
    }
}

/// Parses `sacctmgr -n -P list event ... format=NodeName,State,Reason`; cluster-wide events
/// (no node name) are skipped.
pub fn parse_events(text: &str) -> Vec<NodeEvent> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.splitn(3, '|');
            let node = f.next()?.trim();
            let state = f.next()?.trim();
            if node.is_empty() || state.is_empty() {
                return None;
            }
            Some(NodeEvent {
                node: node.to_string(),
                state: state.to_string(),
                reason: f
                    .next()
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(str::to_string),
            })
        })
        .collect()
}
