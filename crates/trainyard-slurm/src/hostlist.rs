//! Slurm host lists: `n[1-3,7]` ⇄ `n1,n2,n3,n7`.
//!
//! Slurm writes node sets in `SLURM_JOB_NODELIST`, `squeue %N`, `sacct NodeList` and
//! `sinfo %N` in this compressed form. The grammar (Slurm's `hostlist.c`):
//!
//! * a list is comma-separated items, but commas inside `[...]` belong to the bracket;
//! * an item is a prefix followed by any number of bracket groups, each followed by more
//!   literal text: `rack[1-2]-n[01-02]` is the cross product, in row-major order;
//! * a bracket holds comma-separated numbers or `lo-hi` ranges; the width of `lo` (with its
//!   leading zeros) is kept, so `gpu[001-003]` gives `gpu001..gpu003`.

/// A host list Slurm would not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad host list {list:?}: {why}")]
pub struct HostlistError {
    /// The whole list as given.
    pub list: String,
    /// What is wrong with it.
    pub why: String,
}

/// Upper bound on the number of names one list may expand to: a typo like `n[1-999999999]`
/// must fail, not allocate gigabytes.
pub const MAX_HOSTS: usize = 1 << 20;

/// Expands a Slurm host list into node names, in Slurm's order, keeping duplicates as given.
///
/// ```
/// # use trainyard_slurm::hostlist::expand;
/// assert_eq!(expand("n[1-3,7]").unwrap(), ["n1", "n2", "n3", "n7"]);
/// assert_eq!(expand("gpu[009-010],login").unwrap(), ["gpu009", "gpu010", "login"]);
/// ```
pub fn expand(list: &str) -> Result<Vec<String>, HostlistError> {
    let err = |why: String| HostlistError {
        list: list.to_string(),
        why,
    };
    let mut out = Vec::new();
    for item in split_top_level(list).map_err(err)? {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        expand_item(item, &mut out).map_err(err)?;
    }
    Ok(out)
}

/// Splits on commas that are not inside brackets.
fn split_top_level(list: &str) -> Result<Vec<&str>, String> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in list.char_indices() {
        match c {
            '[' if depth > 0 => return Err("nested '[' inside a bracket".into()),
            '[' => depth += 1,
            ']' if depth == 0 => return Err("']' without '['".into()),
            ']' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("'[' without ']'".into());
    }
    items.push(&list[start..]);
    Ok(items)
}

/// Expands one item (`pre[a-b]mid[c]post`) into `out`.
fn expand_item(item: &str, out: &mut Vec<String>) -> Result<(), String> {
    // Partial names built so far; each bracket multiplies them.
    let mut names = vec![String::new()];
    let mut rest = item;
    while let Some(open) = rest.find('[') {
        let close = rest[open..]
            .find(']')
            .map(|c| open + c)
            .ok_or("'[' without ']'")?;
        let literal = &rest[..open];
        let values = bracket_values(&rest[open + 1..close])?;
        if names.len().saturating_mul(values.len()) + out.len() > MAX_HOSTS {
            return Err(format!("expands to more than {MAX_HOSTS} names"));
        }
        names = names
            .iter()
            .flat_map(|n| values.iter().map(move |v| format!("{n}{literal}{v}")))
            .collect();
        rest = &rest[close + 1..];
    }
    out.extend(names.into_iter().map(|n| n + rest));
    Ok(())
}

/// The numbers inside one bracket, formatted with the width of each range's lower bound.
fn bracket_values(inner: &str) -> Result<Vec<String>, String> {
    let mut values = Vec::new();
    for part in inner.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err("empty range in brackets".into());
        }
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let parse = |s: &str| -> Result<u64, String> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{s:?} is not a number"));
            }
            s.parse().map_err(|_| format!("{s:?} is too large"))
        };
        let (a, b) = (parse(lo)?, parse(hi)?);
        if b < a {
            return Err(format!("range {part:?} runs backwards"));
        }
        if (b - a) as usize >= MAX_HOSTS || values.len() + (b - a) as usize >= MAX_HOSTS {
            return Err(format!("expands to more than {MAX_HOSTS} names"));
        }
        let width = lo.len();
        values.extend((a..=b).map(|n| format!("{n:0width$}")));
    }
    Ok(values)
}

/// Compresses node names into a Slurm host list (the inverse of [`expand`] for lists of
/// `prefix<number>` names): consecutive numbers with the same prefix and width become ranges.
/// Order of first appearance of each prefix is kept; names without a trailing number are
/// listed as they are. The result is accepted by `--exclude`, `--nodelist` and `scontrol`.
///
/// ```
/// # use trainyard_slurm::hostlist::compress;
/// assert_eq!(compress(["n1", "n2", "n3", "n7"]), "n[1-3,7]");
/// assert_eq!(compress(["n2"]), "n2");
/// ```
pub fn compress<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    // (prefix, width) -> sorted numbers; `order` keeps first appearance.
    let mut groups: Vec<((String, usize), Vec<u64>)> = Vec::new();
    let mut plain: Vec<String> = Vec::new();
    for name in names {
        let name = name.as_ref();
        let digits = name.bytes().rev().take_while(u8::is_ascii_digit).count();
        let (prefix, num) = name.split_at(name.len() - digits);
        match num.parse::<u64>() {
            Ok(n) if !num.is_empty() => {
                // Zero-padded numbers keep their width; plain ones (`n9`, `n10`) share a
                // group so they compress to `n[9-10]` as Slurm writes it.
                let width = if num.len() > 1 && num.starts_with('0') {
                    num.len()
                } else {
                    0
                };
                let key = (prefix.to_string(), width);
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, nums)) => nums.push(n),
                    None => groups.push((key, vec![n])),
                }
            }
            _ => plain.push(name.to_string()),
        }
    }
    let mut items = Vec::new();
    for ((prefix, width), mut nums) in groups {
        nums.sort_unstable();
        nums.dedup();
        let mut ranges = Vec::new();
        let mut i = 0;
        while i < nums.len() {
            let mut j = i;
            while j + 1 < nums.len() && nums[j + 1] == nums[j] + 1 {
                j += 1;
            }
            ranges.push(if i == j {
                format!("{:0width$}", nums[i])
            } else {
                format!("{:0width$}-{:0width$}", nums[i], nums[j])
            });
            i = j + 1;
        }
        if ranges.len() == 1 && !ranges[0].contains('-') {
            items.push(format!("{prefix}{}", ranges[0]));
        } else {
            items.push(format!("{prefix}[{}]", ranges.join(",")));
        }
    }
    items.extend(plain);
    items.join(",")
}
