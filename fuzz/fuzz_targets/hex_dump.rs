//! Fuzz target `hex_dump`: see `harness::hex_dump` for what it runs and checks.
#![no_main]

#[path = "../../crates/trainyard-pci/tests/support/fuzz_harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::hex_dump(data));
