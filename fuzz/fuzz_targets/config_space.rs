//! Fuzz target `config_space`: see `harness::config_space` for what it runs and checks.
#![no_main]

#[path = "../../crates/trainyard-pci/tests/support/fuzz_harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::config_space(data));
