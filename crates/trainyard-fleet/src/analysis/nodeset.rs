//! Sets of node indices that stay small for rare values and compact for common ones.
//!
//! A fleet analysis keeps, for every slot, key and value, the nodes that have it. Rare values
//! (the interesting ones) have a few nodes: a sorted list. Common values (the fleet's
//! consensus) have almost all of them: a bitmap of one bit per node. Memory therefore grows
//! with the number of distinct values, not with the number of nodes times settings.

use serde::Serialize;

/// Above this many members a list becomes a bitmap.
const LIST_MAX: usize = 64;

/// A set of node indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeSet {
    /// Sorted, unique indices.
    List(Vec<u32>),
    /// One bit per index.
    Bits {
        /// Words of 64 bits.
        words: Vec<u64>,
        /// Number of set bits.
        len: usize,
    },
}

impl Default for NodeSet {
    fn default() -> Self {
        Self::List(Vec::new())
    }
}

impl NodeSet {
    /// Adds `i`.
    pub fn insert(&mut self, i: u32) {
        match self {
            Self::List(v) => {
                // A worker folds its nodes in increasing order: appending is the common case.
                match v.last() {
                    Some(&last) if last == i => return,
                    Some(&last) if last > i => match v.binary_search(&i) {
                        Ok(_) => return,
                        Err(pos) => v.insert(pos, i),
                    },
                    _ => v.push(i),
                }
                if v.len() > LIST_MAX {
                    let list = std::mem::take(v);
                    let mut bits = Self::Bits {
                        words: Vec::new(),
                        len: 0,
                    };
                    for j in list {
                        bits.insert(j);
                    }
                    *self = bits;
                }
            }
            Self::Bits { words, len } => {
                let (w, b) = ((i / 64) as usize, i % 64);
                if words.len() <= w {
                    words.resize(w + 1, 0);
                }
                if words[w] & (1 << b) == 0 {
                    words[w] |= 1 << b;
                    *len += 1;
                }
            }
        }
    }

    /// Whether `i` is in the set.
    pub fn contains(&self, i: u32) -> bool {
        match self {
            Self::List(v) => v.binary_search(&i).is_ok(),
            Self::Bits { words, .. } => words
                .get((i / 64) as usize)
                .is_some_and(|w| w & (1 << (i % 64)) != 0),
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            Self::List(v) => v.len(),
            Self::Bits { len, .. } => *len,
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Members in increasing order.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            Self::List(v) => Iter::List(v.iter()),
            Self::Bits { words, .. } => Iter::Bits {
                words: words.iter(),
                base: 0,
                word: 0,
            },
        }
    }

    /// Members of `self` that are not in `other`, in increasing order.
    pub fn difference<'a>(&'a self, other: &'a NodeSet) -> impl Iterator<Item = u32> + 'a {
        self.iter().filter(move |&i| !other.contains(i))
    }

    /// Adds every member of `other`.
    pub fn union_with(&mut self, other: &NodeSet) {
        if let Self::List(v) = self {
            if matches!(other, Self::Bits { .. }) {
                // Union into a copy of the larger set.
                let mine = std::mem::take(v);
                *self = other.clone();
                for i in mine {
                    self.insert(i);
                }
                return;
            }
        }
        match (self, other) {
            (Self::Bits { words, len }, Self::Bits { words: theirs, .. }) => {
                if words.len() < theirs.len() {
                    words.resize(theirs.len(), 0);
                }
                for (w, t) in words.iter_mut().zip(theirs) {
                    *w |= t;
                }
                *len = words.iter().map(|w| w.count_ones() as usize).sum();
            }
            (me, other) => {
                for i in other.iter() {
                    me.insert(i);
                }
            }
        }
    }
}

impl NodeSet {
    /// Number of members of the union of `self` and `other`.
    pub fn union_len(&self, other: &NodeSet) -> usize {
        match (self, other) {
            (Self::Bits { words: a, .. }, Self::Bits { words: b, .. }) => {
                let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
                let both: usize = long
                    .iter()
                    .zip(short.iter().chain(std::iter::repeat(&0)))
                    .map(|(x, y)| (x | y).count_ones() as usize)
                    .sum();
                both
            }
            (Self::List(v), set) | (set, Self::List(v)) => {
                set.len() + v.iter().filter(|&&i| !set.contains(i)).count()
            }
        }
    }

    /// Adds every member of `set` that is not in `minus`.
    pub fn union_with_difference(&mut self, set: &NodeSet, minus: &NodeSet) {
        if minus.is_empty() {
            return self.union_with(set);
        }
        match set {
            Self::Bits { words, .. } => {
                let mut words = words.clone();
                for i in minus.iter() {
                    if let Some(w) = words.get_mut((i / 64) as usize) {
                        *w &= !(1 << (i % 64));
                    }
                }
                let len = words.iter().map(|w| w.count_ones() as usize).sum();
                self.union_with(&Self::Bits { words, len });
            }
            Self::List(v) => {
                for &i in v {
                    if !minus.contains(i) {
                        self.insert(i);
                    }
                }
            }
        }
    }
}

/// The members of a [`NodeSet`], in increasing order.
///
/// A concrete type rather than a boxed iterator, and a bitmap is walked a set bit at a time
/// (`trailing_zeros`) rather than bit by bit: the report walks every slot's and key's node
/// sets, and at thousands of nodes most of them are bitmaps.
#[derive(Debug, Clone)]
pub enum Iter<'a> {
    /// Over a list.
    List(std::slice::Iter<'a, u32>),
    /// Over a bitmap.
    Bits {
        /// Words not started yet.
        words: std::slice::Iter<'a, u64>,
        /// Index of bit 0 of the next word.
        base: u32,
        /// Bits of the current word not returned yet, as indices from `base - 64`.
        word: u64,
    },
}

impl Iterator for Iter<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        match self {
            Self::List(it) => it.next().copied(),
            Self::Bits { words, base, word } => {
                while *word == 0 {
                    *word = *words.next()?;
                    *base += 64;
                }
                let bit = word.trailing_zeros();
                *word &= *word - 1;
                Some(*base - 64 + bit)
            }
        }
    }
}

impl Serialize for NodeSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_then_bits() {
        let mut s = NodeSet::default();
        for i in (0..500).rev().step_by(3) {
            s.insert(i);
            s.insert(i);
        }
        assert!(matches!(s, NodeSet::Bits { .. }));
        assert_eq!(s.len(), 167);
        assert!(s.contains(499) && s.contains(1) && !s.contains(498));
        let v: Vec<u32> = s.iter().take(3).collect();
        assert_eq!(v, [1, 4, 7]);
        let all: Vec<u32> = s.iter().collect();
        let want: Vec<u32> = (1..500).step_by(3).collect();
        assert_eq!(all, want);
        let mut t = NodeSet::default();
        t.insert(1000);
        t.union_with(&s);
        assert_eq!(t.len(), 168);
    }

    #[test]
    fn bitmap_iteration_covers_word_edges() {
        let members = [0u32, 1, 63, 64, 127, 128, 200, 255, 256, 1000];
        let mut s = NodeSet::default();
        for i in 0..70 {
            s.insert(i * 1000 + 5000);
        }
        for &i in &members {
            s.insert(i);
        }
        assert!(matches!(s, NodeSet::Bits { .. }));
        let got: Vec<u32> = s.iter().collect();
        let mut want: Vec<u32> = members.to_vec();
        want.extend((0..70).map(|i| i * 1000 + 5000));
        want.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(got.len(), s.len());
        let mut other = NodeSet::default();
        other.insert(64);
        other.insert(1000);
        let diff: Vec<u32> = s.difference(&other).collect();
        assert_eq!(diff.len(), got.len() - 2);
        assert!(!diff.contains(&64) && !diff.contains(&1000));
    }
}
