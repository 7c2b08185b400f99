//! The Merkle tree behind `MessageBatch` signatures (DESIGN.md §5): one
//! signature covers a flush of messages while each stays provable alone.
//!
//! Leaves are the messages' EIP-712 `Message` struct hashes, in order; an
//! inner node is keccak(0x01 ‖ left ‖ right). A level with an odd number of
//! nodes promotes its last node unchanged to the next level (no duplication,
//! so two different leaf lists never share a root the way Bitcoin's
//! duplicate-last rule allows). `count` is signed with the root, which fixes
//! the tree's shape and so every leaf's depth.

use crate::hash::keccak256_concat;

/// Largest number of leaves accepted in a proof (and path length bound 32).
pub const MAX_LEAVES: u32 = 1 << 20;

/// keccak(0x01 ‖ left ‖ right).
pub fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    keccak256_concat(&[&[0x01], left, right])
}

/// Every level of the tree, leaves first, root last (empty for no leaves).
pub fn levels(leaves: &[[u8; 32]]) -> Vec<Vec<[u8; 32]>> {
    if leaves.is_empty() {
        return Vec::new();
    }
    let mut out = vec![leaves.to_vec()];
    while let Some(level) = out.last().filter(|l| l.len() > 1) {
        let next = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => node(l, r),
                [single] => *single,
                _ => unreachable!("chunks(2) yields one or two"),
            })
            .collect();
        out.push(next);
    }
    out
}

/// The root of `leaves` (None for an empty list).
pub fn root(leaves: &[[u8; 32]]) -> Option<[u8; 32]> {
    levels(leaves).last().map(|l| l[0])
}

/// The sibling hashes from leaf `index` up to the root, from precomputed
/// [`levels`] (levels where the node is promoted contribute nothing).
pub fn path_in(levels: &[Vec<[u8; 32]>], index: usize) -> Option<Vec<[u8; 32]>> {
    if index >= levels.first()?.len() {
        return None;
    }
    let mut out = Vec::new();
    let mut i = index;
    for level in &levels[..levels.len() - 1] {
        if let Some(sibling) = level.get(i ^ 1) {
            out.push(*sibling);
        }
        i /= 2;
    }
    Some(out)
}

/// The path of leaf `index` (builds the tree; use [`levels`] + [`path_in`] for many).
pub fn path(leaves: &[[u8; 32]], index: usize) -> Option<Vec<[u8; 32]>> {
    path_in(&levels(leaves), index)
}

/// Recomputes the root from a leaf, its index, the leaf count and its path;
/// None if the path has the wrong length for that position.
pub fn root_from_path(
    leaf: &[u8; 32],
    index: u32,
    count: u32,
    path: &[[u8; 32]],
) -> Option<[u8; 32]> {
    if count == 0 || count > MAX_LEAVES || index >= count {
        return None;
    }
    let mut hash = *leaf;
    let mut i = index;
    let mut n = count;
    let mut siblings = path.iter();
    while n > 1 {
        if i % 2 == 1 {
            hash = node(siblings.next()?, &hash);
        } else if i + 1 < n {
            hash = node(&hash, siblings.next()?);
        } // else: last node of an odd level, promoted unchanged
        i /= 2;
        n = n.div_ceil(2);
    }
    if siblings.next().is_some() {
        return None;
    }
    Some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<[u8; 32]> {
        (0..n).map(|i| [i as u8 + 1; 32]).collect()
    }

    #[test]
    fn every_leaf_of_every_small_tree_proves() {
        for n in 1..=17 {
            let l = leaves(n);
            let r = root(&l).unwrap();
            for i in 0..n {
                let p = path(&l, i).unwrap();
                assert_eq!(
                    root_from_path(&l[i], i as u32, n as u32, &p),
                    Some(r),
                    "n={n} i={i}"
                );
                // Wrong index, count, or an extra/missing sibling fails.
                if n > 1 {
                    assert_ne!(
                        root_from_path(&l[i], ((i + 1) % n) as u32, n as u32, &p),
                        Some(r)
                    );
                    assert_ne!(root_from_path(&l[i], i as u32, n as u32, &p[1..]), Some(r));
                }
                let mut longer = p.clone();
                longer.push([0; 32]);
                assert_eq!(root_from_path(&l[i], i as u32, n as u32, &longer), None);
            }
        }
    }

    #[test]
    fn shapes_are_as_documented() {
        let l = leaves(3);
        assert_eq!(root(&l[..1]), Some(l[0]));
        assert_eq!(root(&l), Some(node(&node(&l[0], &l[1]), &l[2])));
        assert_eq!(root(&[]), None);
        // No duplicate-last ambiguity: [a,b,c] and [a,b,c,c] differ.
        let mut dup = l.clone();
        dup.push(l[2]);
        assert_ne!(root(&l), root(&dup));
    }
}
