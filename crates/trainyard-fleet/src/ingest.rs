//! Reading one node from any input (being written).
