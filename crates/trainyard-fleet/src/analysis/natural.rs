//! The order node names are shown in, everywhere in the report: digit runs compared as
//! numbers (`node9` before `node10`), then byte order, so that names differing only in
//! leading zeros still have a fixed order. Every choice that arrival order could otherwise
//! make (which node's finding is quoted, whose label a slot gets) uses it too.

use std::cmp::Ordering;

/// Total order of node names: [`natural_cmp`], then bytes.
pub(crate) fn node_name_cmp(a: &str, b: &str) -> Ordering {
    natural_cmp(a, b).then_with(|| a.cmp(b))
}

/// Compares names with digit runs as numbers, so `node9` sorts before `node10`.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (&a[..da], &b[..db]);
                // Compare without leading zeros: longer is larger, then digit by digit.
                let ta = &na[na.iter().take_while(|c| **c == b'0').count()..];
                let tb = &nb[nb.iter().take_while(|c| **c == b'0').count()..];
                let ord = ta.len().cmp(&tb.len()).then(ta.cmp(tb)).then(da.cmp(&db));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_runs_compare_as_numbers() {
        let mut v = vec!["node10", "node9", "node09", "gpu2", "node1a", "node"];
        v.sort_by(|a, b| node_name_cmp(a, b));
        assert_eq!(v, ["gpu2", "node", "node1a", "node9", "node09", "node10"]);
    }
}
