//! Natural per-node variation (not faults) and the seeded random numbers behind it.
//!
//! The generator is SplitMix64, written out here: it is tiny, well mixed, and its output can
//! never change under us with a dependency upgrade, which matters because tests and
//! benchmarks compare synthetic fleets by bytes.

use serde::{Deserialize, Serialize};

/// A seeded SplitMix64 stream.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A stream from a seed.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The stream for one node and purpose: every node draws from its own stream so a node's
    /// bytes do not depend on the order (or the threads) in which nodes are written.
    pub(crate) fn for_node(seed: u64, node: usize, stream: u64) -> Self {
        let mut r = Self(seed ^ 0x5eed_f1ee_7000_0000);
        let a = r.next_u64();
        let mut r =
            Self(a ^ (node as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ stream.rotate_left(32));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0); multiply-shift rather than modulo, so no bias
    /// worth speaking of.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `per_mille / 1000`.
    pub(crate) fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// Fisher-Yates shuffle.
    pub(crate) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }

    /// One element of a non-empty slice.
    pub(crate) fn pick<T: Copy>(&mut self, v: &[T]) -> Option<T> {
        if v.is_empty() {
            None
        } else {
            Some(v[self.below(v.len() as u64) as usize])
        }
    }
}

/// Kinds of natural variation recorded in the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NaturalKind {
    /// Device Serial Number capability (`DSN`) or VPD serial (`VPD.Read-only fields.[SN] ...`):
    /// different on every node.
    Serial,
    /// Legacy interrupt number (`Interrupt`): differs between nodes.
    Irq,
    /// Memory BAR address (`Region N`) of devices whose BARs firmware places differently.
    Bar,
    /// An idle GPU's link speed dropped for power saving (`LnkSta.Speed` = `2.5GT/s`,
    /// `LnkSta.Speed.Note` = `downgraded`) on some nodes: not a fault.
    IdleGpuSpeed,
    /// AER correctable counters in sysfs ticking (small counts) on some nodes (snapshots).
    AerCounter,
}

/// Per-node probability (per mille) that a node has idle GPUs at all.
pub(crate) const IDLE_NODE_PER_MILLE: u64 = 300;
/// Per-GPU probability (per mille) that a GPU of such a node is idle.
pub(crate) const IDLE_GPU_PER_MILLE: u64 = 500;
/// Per-device probability (per mille) that a snapshot's AER correctable counters ticked.
pub(crate) const AER_TICK_PER_MILLE: u64 = 30;

/// A Device Serial Number as lspci prints it: 8 bytes, most significant first.
pub(crate) fn dsn(rng: &mut Rng) -> [u8; 8] {
    rng.next_u64().to_be_bytes()
}

/// `xx-xx-xx-xx-xx-xx-xx-xx`.
pub(crate) fn dsn_text(bytes: &[u8; 8]) -> String {
    let mut s = String::with_capacity(23);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push('-');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A VPD serial in Mellanox/NVIDIA style (`MT2234X01234`).
pub(crate) fn vpd_serial(rng: &mut Rng) -> String {
    let v = rng.next_u64();
    format!(
        "MT{:02}{:02}X{:05}",
        18 + v % 8,
        1 + (v >> 8) % 52,
        (v >> 16) % 100_000
    )
}
