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
