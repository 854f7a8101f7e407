//! The line tokenizer: register lines → flat `(key, value)` settings. (stub)

use crate::device::{Device, Field};

/// Derives the flat settings of a device from its header and capability lines.
pub fn device_fields(_dev: &Device) -> Vec<Field> {
    Vec::new()
}
