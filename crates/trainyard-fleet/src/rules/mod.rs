//! The RDMA rulebook (being written).
