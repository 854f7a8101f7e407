//! Streaming parser for `lspci -v`/`-vv`/`-vvv` text. (stub)

pub mod header_line;
