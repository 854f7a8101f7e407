//! # trainyard-pci
//!
//! One PCI device model from two sources: `lspci -vvv` text ([`text`]) and raw config space
//! ([`decode`]), with the same flat settings (`LnkSta.Speed` = `32GT/s`) from both.
//! No file IO: callers hand in lines, strings or bytes.
#![deny(missing_docs)]

pub mod address;
pub mod caps;
pub mod decode;
pub mod device;
pub mod fields;
mod fxhash;
pub mod hexdump;
pub mod ids;
pub mod render;
pub mod role;
pub mod text;
pub mod topology;

pub use address::PciAddress;
pub use decode::{decode_config, DecodeError};
pub use device::{
    BusNumbers, Capability, CapabilitySpace, Device, DeviceIds, DeviceNames, Field, FieldRef,
    FieldStr, Fields, FieldsIter, Line,
};
pub use hexdump::{read_hex_dumps, HexDump, HexDumpError, HexDumpReader};
pub use role::{PortType, Role};
pub use topology::Topology;
