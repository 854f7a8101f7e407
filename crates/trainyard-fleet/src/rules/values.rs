//! Reading lspci values: `32GT/s`, `x16`, `256 bytes`, `+`.

/// Link speed in GT/s (`2.5GT/s` → 2.5). `None` for `unknown` or anything unreadable.
pub(crate) fn speed(value: &str) -> Option<f64> {
    let v = value.trim().strip_suffix("GT/s")?.trim();
    v.parse::<f64>().ok().filter(|s| *s > 0.0)
}

/// Link width in lanes (`x16` → 16).
pub(crate) fn width(value: &str) -> Option<u32> {
    value.trim().strip_prefix('x')?.trim().parse().ok()
}

/// A size in bytes (`4096 bytes` → 4096).
pub(crate) fn bytes(value: &str) -> Option<u32> {
    value.trim().strip_suffix("bytes")?.trim().parse().ok()
}

/// PCIe generation of a speed, for messages (`16GT/s` → "Gen4").
pub(crate) fn generation(gts: f64) -> &'static str {
    match gts {
        s if s <= 2.5 => "Gen1",
        s if s <= 5.0 => "Gen2",
        s if s <= 8.0 => "Gen3",
        s if s <= 16.0 => "Gen4",
        s if s <= 32.0 => "Gen5",
        _ => "Gen6",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lspci_values() {
        assert_eq!(speed("2.5GT/s"), Some(2.5));
        assert_eq!(speed("32GT/s"), Some(32.0));
        assert_eq!(speed("unknown"), None);
        assert_eq!(width("x16"), Some(16));
        assert_eq!(width("x0"), Some(0));
        assert_eq!(bytes("4096 bytes"), Some(4096));
        assert_eq!(bytes("big"), None);
        assert_eq!(generation(16.0), "Gen4");
    }
}
