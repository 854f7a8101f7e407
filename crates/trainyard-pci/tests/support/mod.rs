//! Support code shared by the integration tests and the fuzz targets.
pub mod fuzz_harness;
