//! A block header trusted because several RPC providers agree on it (issue
//! 14, item 3). The proofs of [`crate::verified`] are only as good as the
//! header they are checked against; with one provider that header is its
//! word. With n providers, each reports its head, the candidate block is the
//! k-th highest head less the margin (heads differ by a block or two: that
//! is not a disagreement), and the candidate's header is trusted when k of
//! them return the same hash for it (each header's hash recomputed from its
//! fields). Fewer than k agreeing is [`ChainError::QuorumFailed`]; a
//! minority that answered otherwise is named in a warning while the
//! majority's header is used. Proofs are then fetched from one agreeing
//! provider and checked against that header.

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::B256;
use alloy::providers::{DynProvider, Provider};

use crate::error::ChainError;
use crate::rpc::map_rpc;
use crate::verified::{VerifiedHeader, check_header};

/// One provider of a quorum.
pub(crate) struct Member {
    pub(crate) provider: DynProvider,
    /// Its URL without path, query or credentials.
    pub(crate) url: String,
}

/// n providers, k of which must agree on a header.
pub(crate) struct Quorum {
    pub(crate) members: Vec<Member>,
    pub(crate) k: usize,
    /// Blocks below the k-th highest head the candidate is taken at.
    pub(crate) margin: u64,
}

/// A header k providers agree on, and which of them did (indexes into
/// [`Quorum::members`], in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Agreed {
    pub(crate) header: VerifiedHeader,
    pub(crate) agreeing: Vec<usize>,
}

/// The default quorum of `n` providers: a majority.
pub fn default_quorum(n: usize) -> usize {
    n / 2 + 1
}

impl Quorum {
    /// `--quorum k` of these members, checked: 1 ≤ k ≤ n.
    pub(crate) fn new(members: Vec<Member>, k: usize, margin: u64) -> Result<Quorum, ChainError> {
        let n = members.len();
        if k == 0 || k > n {
            return Err(ChainError::InvalidArgument(format!(
                "a quorum of {k} of {n} providers: it must be between 1 and {n}"
            )));
        }
        Ok(Quorum { members, k, margin })
    }

    /// The header of the candidate block (the k-th highest head less the
    /// margin), trusted by k providers.
    pub(crate) async fn head(&self) -> Result<Agreed, ChainError> {
        let heads = self
            .each(|p| async move { p.get_block_number().await })
            .await;
        let mut known: Vec<u64> = heads
            .iter()
            .filter_map(|h| h.as_ref().ok().copied())
            .collect();
        known.sort_unstable_by(|a, b| b.cmp(a));
        // Fewer than k heads: the candidate is the lowest known one, and the
        // agreement below fails naming who did not answer.
        let kth = known.get(self.k - 1).or(known.last()).copied().unwrap_or(0);
        let candidate = kth.saturating_sub(self.margin);
        let failed: Vec<Option<String>> = heads
            .into_iter()
            .map(|h| h.err().map(|e| e.to_string()))
            .collect();
        self.agree_at(candidate, failed).await
    }

    /// The header of block `number`, trusted by k providers; `failed[i]`,
    /// when set, is why member i is not asked (its head was not read).
    pub(crate) async fn agree_at(
        &self,
        number: u64,
        failed: Vec<Option<String>>,
    ) -> Result<Agreed, ChainError> {
        let headers = self
            .each(|p| async move {
                p.get_block_by_number(BlockNumberOrTag::Number(number))
                    .await
            })
            .await;
        let answers: Vec<(String, Result<VerifiedHeader, String>)> = self
            .members
            .iter()
            .zip(headers)
            .zip(failed.into_iter().chain(std::iter::repeat(None)))
            .map(|((m, got), failed)| {
                let answer = match (failed, got) {
                    (Some(why), _) => Err(why),
                    (None, Err(e)) => Err(e.to_string()),
                    (None, Ok(None)) => Err(format!("has no block {number}")),
                    (None, Ok(Some(block))) => {
                        check_header(&block.header, Some(number)).map_err(|m| m.0)
                    }
                };
                (m.url.clone(), answer)
            })
            .collect();
        decide(self.k, number, &answers)
    }

    /// Runs `f` on every member's provider at once; the results in member
    /// order, failures mapped to [`ChainError`] naming the member.
    async fn each<T, F, Fut>(&self, f: F) -> Vec<Result<T, ChainError>>
    where
        T: Send + 'static,
        F: Fn(DynProvider) -> Fut,
        Fut: std::future::Future<
                Output = Result<
                    T,
                    alloy::transports::RpcError<alloy::transports::TransportErrorKind>,
                >,
            > + Send
            + 'static,
    {
        let mut set = tokio::task::JoinSet::new();
        for (i, m) in self.members.iter().enumerate() {
            let fut = f(m.provider.clone());
            set.spawn(async move { (i, fut.await) });
        }
        let mut out: Vec<Option<Result<T, ChainError>>> =
            (0..self.members.len()).map(|_| None).collect();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((i, r)) => out[i] = Some(r.map_err(|e| map_rpc(e, &self.members[i].url, None))),
                // A panicked request task: that member gave no answer.
                Err(e) => tracing::error!(error = %e, "a quorum request task failed"),
            }
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ChainError::Rpc("the request task failed".into()))))
            .collect()
    }
}

/// Which header k of the `answers` (one per provider: its URL and the
/// header it returned for block `number`, its hash recomputed, or why it
/// gave none) agree on. Exactly one hash must have k or more providers
/// behind it (with k ≤ n/2 two could: that is no agreement either); the
/// others are named in a warning.
pub(crate) fn decide(
    k: usize,
    number: u64,
    answers: &[(String, Result<VerifiedHeader, String>)],
) -> Result<Agreed, ChainError> {
    let mut groups: Vec<(VerifiedHeader, Vec<usize>)> = Vec::new();
    for (i, (_, answer)) in answers.iter().enumerate() {
        if let Ok(h) = answer {
            match groups.iter_mut().find(|(g, _)| g.hash == h.hash) {
                Some((_, members)) => members.push(i),
                None => groups.push((*h, vec![i])),
            }
        }
    }
    let mut winners = groups.iter().filter(|(_, members)| members.len() >= k);
    let (Some((header, agreeing)), None) = (winners.next(), winners.next()) else {
        return Err(ChainError::QuorumFailed {
            block: number,
            k,
            n: answers.len(),
            agreeing: groups.iter().map(|(_, m)| m.len()).max().unwrap_or(0),
            answers: describe(answers),
        });
    };
    for (i, (url, answer)) in answers.iter().enumerate() {
        if agreeing.contains(&i) {
            continue;
        }
        let said = match answer {
            Ok(h) => format!("the header hash {}", h.hash),
            Err(why) => why.clone(),
        };
        tracing::warn!(
            provider = %url,
            block = number,
            "the Ethereum node at {url} disagrees with the quorum ({} of {} agree on the header hash {} of block {number}); it answered: {said}; its answer was not used — replace it if this persists",
            agreeing.len(),
            answers.len(),
            header.hash,
        );
    }
    Ok(Agreed {
        header: *header,
        agreeing: agreeing.clone(),
    })
}

/// `url: hash` (or `url: why not`) for each answer, for the error.
fn describe(answers: &[(String, Result<VerifiedHeader, String>)]) -> String {
    answers
        .iter()
        .map(|(url, a)| match a {
            Ok(h) => format!("{url}: {}", short(h.hash)),
            Err(why) => format!("{url}: {why}"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A hash's first 6 bytes, enough to tell answers apart in a message.
fn short(hash: B256) -> String {
    format!("0x{}…", hex::encode(&hash[..6]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(byte: u8) -> VerifiedHeader {
        VerifiedHeader {
            number: 9,
            hash: B256::repeat_byte(byte),
            state_root: B256::repeat_byte(byte),
            timestamp: 0,
        }
    }

    fn answers(of: &[Result<u8, &str>]) -> Vec<(String, Result<VerifiedHeader, String>)> {
        of.iter()
            .enumerate()
            .map(|(i, a)| {
                (
                    format!("http://p{i}:8545"),
                    a.map(header).map_err(str::to_string),
                )
            })
            .collect()
    }

    #[test]
    fn k_equal_hashes_win_and_the_rest_is_outvoted() {
        let got = decide(2, 9, &answers(&[Ok(1), Ok(2), Ok(1)])).unwrap();
        assert_eq!((got.header, got.agreeing), (header(1), vec![0, 2]));
        let got = decide(2, 9, &answers(&[Err("unreachable"), Ok(3), Ok(3)])).unwrap();
        assert_eq!(got.agreeing, vec![1, 2]);
        assert_eq!(decide(1, 9, &answers(&[Ok(4)])).unwrap().header, header(4));
    }

    #[test]
    fn fewer_than_k_or_two_groups_of_k_is_quorum_failed() {
        for (k, of) in [
            (2, vec![Ok(1), Ok(2), Ok(3)]),
            (2, vec![Ok(1), Err("no block"), Err("unreachable")]),
            (3, vec![Ok(1), Ok(1), Ok(2)]),
            (2, vec![Ok(1), Ok(1), Ok(2), Ok(2)]),
        ] {
            match decide(k, 9, &answers(&of)) {
                Err(ChainError::QuorumFailed {
                    block, n, answers, ..
                }) => {
                    assert_eq!((block, n), (9, of.len()));
                    assert!(answers.contains("http://p0:8545"), "{answers}");
                }
                other => panic!("{k} of {of:?}: expected QuorumFailed, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_quorum_is_between_one_and_n() {
        assert_eq!(
            [1, 2, 3, 4, 5].map(default_quorum),
            [1, 2, 2, 3, 3],
            "a majority"
        );
        assert!(Quorum::new(Vec::new(), 1, 0).is_err());
    }
}
