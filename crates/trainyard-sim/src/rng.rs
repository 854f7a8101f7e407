//! A small seeded random number generator (PCG-XSH-RR 64/32, O'Neill 2014).
//!
//! Written out rather than pulled in: the simulator needs only uniform doubles, and owning the
//! generator keeps every published figure reproducible from its seed regardless of a
//! dependency's version.

/// PCG32: 64-bit state, 32-bit output, selectable stream.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
    inc: u64,
}

const MULT: u64 = 6_364_136_223_846_793_005;

impl Rng {
    /// A generator for `seed` on stream `stream`: different streams are independent sequences,
    /// which is how each failure cause gets its own (common random numbers across runs).
    #[must_use]
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng {
            state: 0,
            inc: (splitmix(stream) << 1) | 1,
        };
        r.next_u32();
        r.state = r.state.wrapping_add(splitmix(seed));
        r.next_u32();
        r
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old.wrapping_mul(MULT).wrapping_add(self.inc);
        // Truncations are the algorithm: xorshift the high bits, then rotate by the top five.
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rot = (old >> 59) as u32;
        xorshifted.rotate_right(rot)
    }

    /// A uniform double in the open interval (0, 1): never 0, so `ln` is always finite.
    pub fn uniform(&mut self) -> f64 {
        let hi = u64::from(self.next_u32() >> 5); // 27 bits
        let lo = u64::from(self.next_u32() >> 6); // 26 bits
        let x = ((hi << 26) | lo) as f64; // 53 bits, exact
        (x + 0.5) / 9_007_199_254_740_992.0
    }

    /// A uniform integer in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Floor of a uniform in (0, 1) times n: bias below 2^-53 per value, far under noise.
        ((self.uniform() * n as f64) as u64).min(n - 1)
    }
}

/// SplitMix64's finalizer: spreads nearby seeds (0, 1, 2, ...) over the whole state space.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_streams_differ() {
        let a: Vec<u32> = (0..4)
            .map(|_| 0)
            .scan(Rng::new(1, 2), |r, _: u32| Some(r.next_u32()))
            .collect();
        let b: Vec<u32> = (0..4)
            .map(|_| 0)
            .scan(Rng::new(1, 2), |r, _: u32| Some(r.next_u32()))
            .collect();
        let c: Vec<u32> = (0..4)
            .map(|_| 0)
            .scan(Rng::new(1, 3), |r, _: u32| Some(r.next_u32()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn uniform_mean_is_one_half() {
        let mut r = Rng::new(7, 0);
        let n = 100_000;
        let mean = (0..n).map(|_| r.uniform()).sum::<f64>() / f64::from(n);
        assert!((mean - 0.5).abs() < 0.005, "{mean}");
        assert!((0..1000).all(|_| r.below(3) < 3));
    }
}
