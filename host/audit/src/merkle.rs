//! The Merkle tree over the log, after RFC 9162 (Certificate Transparency v2) with blake3.
//!
//! - Leaf hash: `blake3(0x00 || entry bytes)`, as in RFC 9162.
//! - Node hash: `blake3_keyed(NODE_KEY, left || right)`.
//! - Chain hash: `blake3_keyed(CHAIN_KEY, previous chain hash || leaf hash)`, with 32 zero
//!   bytes before the first entry.
//! - The root of the empty tree is `blake3("")`.
//!
//! `NODE_KEY = blake3_derive_key("cordon.audit.v1 merkle node", "")` and
//! `CHAIN_KEY = blake3_derive_key("cordon.audit.v1 hash chain", "")`. The three kinds of hash
//! are domain-separated, so a leaf can never be passed off as a node (the second-preimage
//! attack RFC 9162 section 2.1.1 guards against with its 0x00 and 0x01 prefixes): leaves are
//! plain blake3 of prefixed input, nodes and chain links are blake3 in keyed mode under
//! distinct keys. Keying rather than prefixing keeps node and chain inputs at exactly 64 bytes,
//! one blake3 compression each instead of two, which is most of what verification costs. The
//! tree shape, the inclusion path and the consistency proof are exactly RFC 9162's (sections
//! 2.1.3 and 2.1.4).

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::Hash;

const LEAF_PREFIX: u8 = 0x00;

static NODE_KEY: LazyLock<[u8; 32]> =
    LazyLock::new(|| blake3::derive_key("cordon.audit.v1 merkle node", b""));
static CHAIN_KEY: LazyLock<[u8; 32]> =
    LazyLock::new(|| blake3::derive_key("cordon.audit.v1 hash chain", b""));

/// The leaf hash of an entry's encoded bytes.
pub fn leaf_hash(entry_bytes: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&[LEAF_PREFIX]);
    h.update(entry_bytes);
    h.finalize().into()
}

fn pair(a: &[u8; 32], b: &[u8; 32]) -> [u8; 64] {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(a);
    buf[32..].copy_from_slice(b);
    buf
}

/// The hash of an interior node.
pub fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    blake3::keyed_hash(&NODE_KEY, &pair(left, right)).into()
}

/// The chain hash after an entry with leaf hash `leaf` whose predecessor's chain hash is `prev`.
pub fn chain_hash(prev: &[u8; 32], leaf: &[u8; 32]) -> [u8; 32] {
    blake3::keyed_hash(&CHAIN_KEY, &pair(prev, leaf)).into()
}

/// The root of the empty tree.
pub fn empty_root() -> [u8; 32] {
    blake3::hash(b"").into()
}

/// The largest power of two strictly less than `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The perfect subtrees of a growing tree: enough to compute its root and to add leaves.
#[derive(Debug, Clone, Default)]
pub(crate) struct Frontier {
    /// `(level, hash)` from the largest (leftmost) subtree to the smallest.
    stack: Vec<(u32, [u8; 32])>,
    size: u64,
}

impl Frontier {
    /// Rebuilds the frontier of a tree of `size` leaves from its perfect subtree roots.
    pub(crate) fn from_parts(size: u64, stack: Vec<(u32, [u8; 32])>) -> Frontier {
        Frontier { stack, size }
    }

    /// The `(level, index)` of each perfect subtree in the frontier of a tree of `size` leaves,
    /// left to right.
    pub(crate) fn positions(size: u64) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1u64 << level) != 0 {
                out.push((level, start >> level));
                start += 1u64 << level;
            }
        }
        out
    }

    /// The number of leaves.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The perfect subtrees, `(level, hash)` from the largest (leftmost) to the smallest.
    pub(crate) fn stack(&self) -> &[(u32, [u8; 32])] {
        &self.stack
    }

    /// Adds a leaf; reports each interior node it completes as `(level, index, hash)`.
    pub(crate) fn push(&mut self, leaf: [u8; 32], completed: impl FnMut(u32, u64, [u8; 32])) {
        self.push_subtree(0, leaf, completed);
    }

    /// Adds the `2^level` leaves of a perfect subtree with root `hash` (the size must be a
    /// multiple of `2^level`); reports each node above it that this completes, as
    /// [`Frontier::push`] does.
    pub(crate) fn push_subtree(
        &mut self,
        mut level: u32,
        mut hash: [u8; 32],
        mut completed: impl FnMut(u32, u64, [u8; 32]),
    ) {
        debug_assert!(self.size.trailing_zeros() >= level);
        let last = self.size + ((1u64 << level) - 1);
        self.size += 1u64 << level;
        while let Some(&(top_level, left)) = self.stack.last() {
            if top_level != level {
                break;
            }
            self.stack.pop();
            hash = node_hash(&left, &hash);
            level += 1;
            completed(level, last >> level, hash);
        }
        self.stack.push((level, hash));
    }

    /// The root of the tree (RFC 9162 MTH).
    pub(crate) fn root(&self) -> [u8; 32] {
        self.root_with(&[])
    }

    /// The root of this tree extended by the subtrees `tail` (smaller than all of this tree's,
    /// largest first): the frontier of the leaves that follow, for a size aligned to them.
    pub(crate) fn root_with(&self, tail: &[(u32, [u8; 32])]) -> [u8; 32] {
        let mut iter = self.stack.iter().chain(tail).rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return empty_root();
        };
        for (_, left) in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

/// Where proof generation reads the roots of perfect subtrees (level 0: leaf hashes).
pub(crate) trait NodeSource {
    /// The error reading a node.
    type Error;
    /// The root of the perfect subtree at `level` covering leaves `index << level ..`.
    fn perfect(&self, level: u32, index: u64) -> Result<[u8; 32], Self::Error>;
}

/// MTH of leaves `start..end`, where `start` is aligned as in RFC 9162's recursion.
pub(crate) fn subtree_root<S: NodeSource>(
    src: &S,
    start: u64,
    end: u64,
) -> Result<[u8; 32], S::Error> {
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return src.perfect(n.trailing_zeros(), start / n);
    }
    let k = split_point(n);
    let left = subtree_root(src, start, start + k)?;
    let right = subtree_root(src, start + k, end)?;
    Ok(node_hash(&left, &right))
}

fn path_rec<S: NodeSource>(
    src: &S,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m - start < k {
        path_rec(src, m, start, start + k, out)?;
        out.push(Hash(subtree_root(src, start + k, end)?));
    } else {
        path_rec(src, m, start + k, end, out)?;
        out.push(Hash(subtree_root(src, start, start + k)?));
    }
    Ok(())
}

/// The RFC 9162 inclusion path of leaf `index` in the tree of `size` leaves (`index < size`).
pub(crate) fn inclusion_path<S: NodeSource>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, S::Error> {
    let mut out = Vec::new();
    path_rec(src, index, 0, size, &mut out)?;
    Ok(out)
}

fn subproof<S: NodeSource>(
    src: &S,
    m: u64,
    start: u64,
    end: u64,
    complete: bool,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = end - start;
    if m == n {
        if !complete {
            out.push(Hash(subtree_root(src, start, end)?));
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof(src, m, start, start + k, complete, out)?;
        out.push(Hash(subtree_root(src, start + k, end)?));
    } else {
        subproof(src, m - k, start + k, end, false, out)?;
        out.push(Hash(subtree_root(src, start, start + k)?));
    }
    Ok(())
}

/// The RFC 9162 consistency proof from the tree of `old` leaves to that of `new` leaves
/// (`0 < old <= new`).
pub(crate) fn consistency_path<S: NodeSource>(
    src: &S,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, S::Error> {
    let mut out = Vec::new();
    if old < new {
        subproof(src, old, 0, new, true, &mut out)?;
    }
    Ok(out)
}

/// Proof that one entry is in the tree of a given size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// The entry's sequence number (its leaf index).
    pub leaf_index: u64,
    /// The size of the tree the proof is against.
    pub tree_size: u64,
    /// The sibling hashes from the leaf up.
    pub path: Vec<Hash>,
}

/// Proof that the tree of `new_size` leaves extends the tree of `old_size` leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// The earlier tree size.
    pub old_size: u64,
    /// The later tree size.
    pub new_size: u64,
    /// The RFC 9162 consistency path.
    pub path: Vec<Hash>,
}

/// Why a proof does not hold, or cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The leaf is not inside the tree.
    #[error("leaf {leaf_index} is outside a tree of {tree_size} entries")]
    LeafOutOfRange {
        /// The leaf index.
        leaf_index: u64,
        /// The tree size.
        tree_size: u64,
    },
    /// The sizes are not `0 < old <= new`, or exceed the log.
    #[error("no consistency proof from tree size {old_size} to {new_size}")]
    BadSizes {
        /// The earlier size.
        old_size: u64,
        /// The later size.
        new_size: u64,
    },
    /// The path has the wrong number of hashes for the tree.
    #[error("proof path has the wrong length")]
    WrongLength,
    /// The path does not lead to the expected root.
    #[error("proof does not lead to the expected root")]
    RootMismatch,
    /// The log could not be read.
    #[error("cannot read the log")]
    Read(#[from] crate::ReadError),
}

impl InclusionProof {
    /// Checks that the leaf with hash `leaf` is at `leaf_index` in the tree with `root`
    /// (RFC 9162 section 2.1.3.2).
    pub fn verify(&self, leaf: &[u8; 32], root: &[u8; 32]) -> Result<(), ProofError> {
        if self.leaf_index >= self.tree_size {
            return Err(ProofError::LeafOutOfRange {
                leaf_index: self.leaf_index,
                tree_size: self.tree_size,
            });
        }
        let mut fnode = self.leaf_index;
        let mut snode = self.tree_size - 1;
        let mut r = *leaf;
        for p in &self.path {
            if snode == 0 {
                return Err(ProofError::WrongLength);
            }
            if fnode & 1 == 1 || fnode == snode {
                r = node_hash(&p.0, &r);
                if fnode & 1 == 0 {
                    while fnode & 1 == 0 && fnode != 0 {
                        fnode >>= 1;
                        snode >>= 1;
                    }
                }
            } else {
                r = node_hash(&r, &p.0);
            }
            fnode >>= 1;
            snode >>= 1;
        }
        if snode != 0 {
            return Err(ProofError::WrongLength);
        }
        if &r != root {
            return Err(ProofError::RootMismatch);
        }
        Ok(())
    }
}

impl ConsistencyProof {
    /// Checks that the tree with `new_root` extends the tree with `old_root`
    /// (RFC 9162 section 2.1.4.2).
    pub fn verify(&self, old_root: &[u8; 32], new_root: &[u8; 32]) -> Result<(), ProofError> {
        let bad_sizes = ProofError::BadSizes {
            old_size: self.old_size,
            new_size: self.new_size,
        };
        if self.old_size == 0 || self.old_size > self.new_size {
            return Err(bad_sizes);
        }
        if self.old_size == self.new_size {
            if !self.path.is_empty() {
                return Err(ProofError::WrongLength);
            }
            if old_root != new_root {
                return Err(ProofError::RootMismatch);
            }
            return Ok(());
        }
        let mut path: Vec<[u8; 32]> = Vec::with_capacity(self.path.len() + 1);
        if self.old_size.is_power_of_two() {
            path.push(*old_root);
        }
        path.extend(self.path.iter().map(|h| h.0));
        let mut iter = path.iter();
        let Some(first) = iter.next() else {
            return Err(ProofError::WrongLength);
        };
        let mut fnode = self.old_size - 1;
        let mut snode = self.new_size - 1;
        while fnode & 1 == 1 {
            fnode >>= 1;
            snode >>= 1;
        }
        let mut fr = *first;
        let mut sr = *first;
        for c in iter {
            if snode == 0 {
                return Err(ProofError::WrongLength);
            }
            if fnode & 1 == 1 || fnode == snode {
                fr = node_hash(c, &fr);
                sr = node_hash(c, &sr);
                if fnode & 1 == 0 {
                    while fnode & 1 == 0 && fnode != 0 {
                        fnode >>= 1;
                        snode >>= 1;
                    }
                }
            } else {
                sr = node_hash(&sr, c);
            }
            fnode >>= 1;
            snode >>= 1;
        }
        if snode != 0 {
            return Err(ProofError::WrongLength);
        }
        if &fr != old_root || &sr != new_root {
            return Err(ProofError::RootMismatch);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Leaves(Vec<[u8; 32]>);

    impl NodeSource for Leaves {
        type Error = std::convert::Infallible;
        fn perfect(&self, level: u32, index: u64) -> Result<[u8; 32], Self::Error> {
            let width = 1u64 << level;
            let start = (index * width) as usize;
            Ok(naive_root(&self.0[start..start + width as usize]))
        }
    }

    fn naive_root(leaves: &[[u8; 32]]) -> [u8; 32] {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
            }
        }
    }

    fn leaves(n: u64) -> Vec<[u8; 32]> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn frontier_root_matches_the_recursive_definition() {
        let all = leaves(70);
        let mut frontier = Frontier::default();
        assert_eq!(frontier.root(), empty_root());
        for (i, leaf) in all.iter().enumerate() {
            frontier.push(*leaf, |_, _, _| {});
            assert_eq!(frontier.root(), naive_root(&all[..=i]), "size {}", i + 1);
            let positions = Frontier::positions(frontier.size());
            assert_eq!(positions.len(), frontier.stack.len());
        }
    }

    #[test]
    fn inclusion_proofs_verify_for_every_leaf_and_size() {
        let all = leaves(33);
        let src = Leaves(all.clone());
        for size in 1..=33u64 {
            let root = naive_root(&all[..size as usize]);
            for index in 0..size {
                let proof = InclusionProof {
                    leaf_index: index,
                    tree_size: size,
                    path: inclusion_path(&src, index, size).unwrap_or_default(),
                };
                proof
                    .verify(&all[index as usize], &root)
                    .unwrap_or_else(|e| {
                        unreachable!("leaf {index} of {size}: {e}");
                    });
                let mut other = root;
                other[0] ^= 1;
                assert!(proof.verify(&all[index as usize], &other).is_err());
            }
        }
    }

    #[test]
    fn consistency_proofs_verify_for_every_pair_of_sizes() {
        let all = leaves(33);
        let src = Leaves(all.clone());
        for new in 1..=33u64 {
            for old in 1..=new {
                let proof = ConsistencyProof {
                    old_size: old,
                    new_size: new,
                    path: consistency_path(&src, old, new).unwrap_or_default(),
                };
                let old_root = naive_root(&all[..old as usize]);
                let new_root = naive_root(&all[..new as usize]);
                proof.verify(&old_root, &new_root).unwrap_or_else(|e| {
                    unreachable!("{old} -> {new}: {e}");
                });
                if old < new {
                    let mut forged = old_root;
                    forged[5] ^= 0x40;
                    assert!(proof.verify(&forged, &new_root).is_err(), "{old} -> {new}");
                }
            }
        }
    }
}
