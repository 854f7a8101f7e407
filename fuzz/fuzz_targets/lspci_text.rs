//! Fuzz target `lspci_text`: see `harness::lspci_text` for what it runs and checks.
#![no_main]

#[path = "../../crates/trainyard-pci/tests/support/fuzz_harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::lspci_text(data));
