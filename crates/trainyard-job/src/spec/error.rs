//! Spec errors: where (file, line, column), what, and what to write instead.

use std::fmt;
use std::path::PathBuf;

/// Why a `job.toml` was rejected. Displays as
/// `job.toml:4:16: hang_timeout: "30" has no unit` followed by an indented `hint:` line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct SpecError {
    /// The spec file, as given to [`crate::JobSpec::from_toml`].
    pub path: PathBuf,
    /// 1-based line of the offending key or value (1 when the problem is the whole file).
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// What kind of problem.
    pub kind: SpecErrorKind,
    /// What is wrong, naming the key.
    pub message: String,
    /// What to write instead, when there is something useful to say.
    pub hint: Option<String>,
}

/// The kinds of [`SpecError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpecErrorKind {
    /// Not valid TOML.
    Syntax,
    /// A key this version does not know (often a typo).
    UnknownKey,
    /// A value of the wrong TOML type (a number where a duration string belongs).
    WrongType,
    /// A value of the right type that is not allowed (`nodes = 0`, a bad regex).
    BadValue,
    /// A required key is absent.
    Missing,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.column,
            self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// 1-based (line, column) of byte `offset` in `text`; offsets past the end or inside a
/// character clamp rather than panic.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Levenshtein distance, for "did you mean": the key lists are short, so the quadratic
/// algorithm is plenty.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The known key closest to `key`, if it is close enough to be a plausible typo.
pub(crate) fn did_you_mean<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = key.to_ascii_lowercase().replace('-', "_");
    known
        .iter()
        .map(|k| (edit_distance(&lower, k), *k))
        // A third of the key's length, at least 2: "hang_timout" finds "hang_timeout", "foo"
        // does not find "env".
        .filter(|(d, k)| *d <= (k.len() / 3).max(2) && *d < k.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let t = "a = 1\nbé = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, 10), (2, 4)); // "bé " is 3 chars, 4 bytes
        assert_eq!(line_col(t, 8), (2, 2)); // inside é: clamps back
        assert_eq!(line_col(t, 999), (3, 1));
    }

    #[test]
    fn suggestions() {
        let known = [
            "hang_timeout",
            "nodes",
            "env",
            "procs_per_node",
            "max_restarts",
        ];
        assert_eq!(did_you_mean("hang_timout", &known), Some("hang_timeout"));
        assert_eq!(did_you_mean("node", &known), Some("nodes"));
        assert_eq!(
            did_you_mean("procs-per-node", &known),
            Some("procs_per_node")
        );
        assert_eq!(did_you_mean("max_restart", &known), Some("max_restarts"));
        assert_eq!(did_you_mean("xyz", &known), None);
        assert_eq!(did_you_mean("completely_else", &known), None);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
