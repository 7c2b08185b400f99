//! The rpc backend: the registry on any Ethereum JSON-RPC node through alloy.
//! Gas is paid by a payer key that may differ from the identity key; sends wait
//! for N confirmations. Status and endpoint reads are proof-checked at the
//! latest block ([`crate::verified`]): `eth_call` answers decide nothing
//! (`verifySession` stays an extra check of the contract, at `pending`).

use std::time::Duration;

use alloy::eips::BlockId;
use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{B256, Bytes};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEvent;
use alloy::transports::{RpcError, TransportErrorKind};
use async_trait::async_trait;
use chainmail_core::eip712::{
    Certificate, Domain, Endpoint, Renewal, Revocation, SessionRequest, Signed,
};
use chainmail_core::{Address, IdStatus, PublicKey, SecretKey};

use crate::calls;
use crate::contract::{IdentityRegistry as R, decode_revert, to_alloy, to_core};
use crate::error::ChainError;
use crate::pin::{self, ChainPin};
use crate::quorum::{Member, Quorum};
use crate::registry::{EndpointRecord, Registry, Trust, TxOutcome};
use crate::verified::{VerifiedHeader, Verifier};

/// Knobs of the rpc backend.
#[derive(Debug, Clone)]
pub struct RpcOptions {
    /// Confirmations to wait for after inclusion (1 = included).
    pub confirmations: u64,
    /// How long to wait for them before reporting the transaction as dropped.
    pub receipt_timeout: Duration,
    /// If set, the node must serve this chain id.
    pub expected_chain_id: Option<u64>,
    /// The most a transaction may bid per gas (EIP-1559 `maxFeePerGas`, in
    /// wei). The provider quotes the fee; a quote above this is refused
    /// before anything is signed ([`ChainError::FeeTooHigh`]): a lying or
    /// compromised provider cannot drain the payer with a made-up price.
    pub max_fee_per_gas: u128,
    /// The most gas one transaction may use (its gas limit). An estimate
    /// above this is refused before signing, as a fee quote above the cap.
    pub max_gas: u64,
    /// If set, the chain and registry a home pinned: [`RpcRegistry::connect`]
    /// and [`deploy_with`] check them before anything is signed or trusted
    /// ([`ChainError::ChainMismatch`]). `None`: nothing pinned yet (the
    /// caller records [`RpcRegistry::pin`] on this first use).
    pub pin: Option<ChainPin>,
    /// How far behind the local clock the latest block may be; an older
    /// head is [`ChainError::StaleChainView`]: a provider serving an old
    /// view could hide a recent revocation. `None`: no bound (a local dev
    /// chain that mines only on transactions).
    pub max_head_age: Option<Duration>,
    /// This machine's clock: expiry, the freshness bound and the skew bound
    /// are judged by it (tests that move anvil's time move it too).
    pub clock: LocalClock,
}

/// The local clock an rpc backend judges by: the system clock, or one a
/// test moves with the chain's time.
#[derive(Clone, Default)]
pub struct LocalClock(Option<crate::embedded::Clock>);

impl LocalClock {
    /// A clock reading `f` (Unix seconds).
    pub fn from_fn(f: crate::embedded::Clock) -> Self {
        LocalClock(Some(f))
    }

    /// Unix seconds now.
    pub fn now(&self) -> u64 {
        match &self.0 {
            Some(f) => f(),
            None => unix_now(),
        }
    }
}

impl std::fmt::Debug for LocalClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "LocalClock(custom)"
        } else {
            "LocalClock(system)"
        })
    }
}

/// How far ahead of the local clock a verified block may be: further is
/// [`ChainError::ClockSkew`] (this machine's clock or the chain is wrong,
/// and what chainmail signs is stamped by the local clock).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Default [`RpcOptions::max_head_age`]: 10 minutes (public chains make a
/// block every few seconds).
pub const DEFAULT_MAX_HEAD_AGE: Duration = Duration::from_secs(600);

/// Default [`RpcOptions::max_fee_per_gas`]: 300 gwei (well above ordinary
/// prices on mainnet and rollups, far below what would drain a payer).
pub const DEFAULT_MAX_FEE_PER_GAS: u128 = 300 * GWEI;
/// Default [`RpcOptions::max_gas`]: the registry's deployment takes about
/// 1.6 M, every other call under 200 k.
pub const DEFAULT_MAX_GAS: u64 = 3_000_000;
/// Wei per gwei.
pub const GWEI: u128 = 1_000_000_000;

impl Default for RpcOptions {
    fn default() -> Self {
        RpcOptions {
            confirmations: 1,
            receipt_timeout: Duration::from_secs(120),
            expected_chain_id: None,
            max_fee_per_gas: DEFAULT_MAX_FEE_PER_GAS,
            max_gas: DEFAULT_MAX_GAS,
            pin: None,
            max_head_age: Some(DEFAULT_MAX_HEAD_AGE),
            clock: LocalClock::default(),
        }
    }
}

/// The URL without path, query or credentials (API keys often live there), for messages.
fn redact(url: &reqwest_url::Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{}://{h}:{p}", url.scheme()),
        _ => format!("{}://…", url.scheme()),
    }
}

mod reqwest_url {
    pub use alloy::transports::http::reqwest::Url;
}

/// Replaces every URL in a transport message by the redacted one: reqwest
/// errors quote the full URL, and its path or query may hold an API key.
fn scrub(message: &str, shown: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest
        .find("http://")
        .into_iter()
        .chain(rest.find("https://"))
        .min()
    {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || c == ')' || c == '"')
            .unwrap_or(tail.len());
        out.push_str(shown);
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Maps an RPC failure to a [`ChainError`]: contract reverts decoded by name,
/// transport failures as unreachable, the node's "insufficient funds".
pub(crate) fn map_rpc(
    e: RpcError<TransportErrorKind>,
    url: &str,
    payer: Option<Address>,
) -> ChainError {
    if let Some(resp) = e.as_error_resp() {
        if let Some(data) = resp.as_revert_data() {
            return ChainError::Contract(decode_revert(&data));
        }
        let msg = resp.message.to_string();
        if msg.to_ascii_lowercase().contains("insufficient funds") {
            return ChainError::InsufficientFunds {
                payer: payer.unwrap_or(Address([0; 20])),
                reason: msg,
            };
        }
        return ChainError::Rpc(scrub(&format!("{} (code {})", msg, resp.code), url));
    }
    match e {
        RpcError::Transport(kind) => ChainError::Unreachable {
            url: url.to_string(),
            reason: scrub(&kind.to_string(), url),
        },
        other => ChainError::Rpc(scrub(&other.to_string(), url)),
    }
}

/// A registry contract on a JSON-RPC node.
pub struct RpcRegistry {
    provider: DynProvider,
    url: String,
    registry: Address,
    chain_id: u64,
    payer: Option<Address>,
    options: RpcOptions,
    /// The proof-checked reads.
    verifier: Verifier,
    /// What this chain and registry are, as checked at connect.
    pin: ChainPin,
    /// With several providers: who names the header the proofs are checked
    /// against (the first provider, `provider`, is one of them and still
    /// sends the transactions). `None`: the one provider's own header.
    quorum: Option<Quorum>,
    /// The highest block a read was proof-checked at (0: none yet).
    verified_block: std::sync::atomic::AtomicU64,
    /// One send at a time per registry handle: nonces come from the node's
    /// pending count, so two concurrent sends would pick the same one.
    send_lock: tokio::sync::Mutex<()>,
}

/// Builds a provider over `url`, with a wallet if a payer is given.
fn provider(
    url: &str,
    payer: Option<&SecretKey>,
) -> Result<(DynProvider, String, Option<Address>), ChainError> {
    let parsed: reqwest_url::Url = url
        .parse()
        .map_err(|e| ChainError::InvalidArgument(format!("bad RPC URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ChainError::InvalidArgument(format!(
            "RPC URL must be http(s), not {}",
            parsed.scheme()
        )));
    }
    let shown = redact(&parsed);
    Ok(match payer {
        Some(key) => {
            let bytes = key.to_bytes();
            let signer = PrivateKeySigner::from_bytes(&B256::from(*bytes))
                .map_err(|e| ChainError::InvalidArgument(format!("payer key unusable: {e}")))?;
            let address = to_core(signer.address());
            // Simple nonces (the node's pending count, asked per send): the cached manager
            // reserves a nonce even when gas estimation then fails on a revert, leaving a
            // gap that stalls every later transaction. Sends are serialized by `send_lock`.
            let p = ProviderBuilder::new()
                .disable_recommended_fillers()
                .with_gas_estimation()
                .with_simple_nonce_management()
                .fetch_chain_id()
                .wallet(EthereumWallet::from(signer))
                .connect_http(parsed)
                .erased();
            (p, shown, Some(address))
        }
        None => (
            ProviderBuilder::new().connect_http(parsed).erased(),
            shown,
            None,
        ),
    })
}

/// `tx` with its fees and gas limit filled from the provider's quotes, or
/// [`ChainError::FeeTooHigh`] when a quote is above `options`' caps —
/// before anything is signed. (The estimate is also where a call that
/// would revert is refused, with the contract's error.)
async fn within_caps(
    provider: &DynProvider,
    url: &str,
    payer: Option<Address>,
    options: &RpcOptions,
    mut tx: TransactionRequest,
) -> Result<TransactionRequest, ChainError> {
    let fees = provider
        .estimate_eip1559_fees()
        .await
        .map_err(|e| map_rpc(e, url, payer))?;
    if fees.max_fee_per_gas > options.max_fee_per_gas {
        return Err(ChainError::FeeTooHigh {
            what: "fee per gas",
            quoted: format!("{} gwei", gwei(fees.max_fee_per_gas)),
            cap: format!("{} gwei", gwei(options.max_fee_per_gas)),
        });
    }
    if let Some(from) = payer {
        tx = tx.with_from(to_alloy(from));
    }
    let gas = provider
        .estimate_gas(tx.clone())
        .await
        .map_err(|e| map_rpc(e, url, payer))?;
    if gas > options.max_gas {
        return Err(ChainError::FeeTooHigh {
            what: "gas",
            quoted: gas.to_string(),
            cap: options.max_gas.to_string(),
        });
    }
    Ok(tx
        .with_gas_limit(gas)
        .with_max_fee_per_gas(fees.max_fee_per_gas)
        .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas.min(fees.max_fee_per_gas)))
}

/// `wei` in gwei, with up to 9 decimals (for messages).
fn gwei(wei: u128) -> String {
    let (whole, frac) = (wei / GWEI, wei % GWEI);
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{}", format!("{frac:09}").trim_end_matches('0'))
    }
}

/// Sends `tx` and waits for its receipt; returns the outcome and the created address, if any.
async fn send_and_wait(
    provider: &DynProvider,
    url: &str,
    payer: Option<Address>,
    options: &RpcOptions,
    tx: TransactionRequest,
    send_lock: Option<&tokio::sync::Mutex<()>>,
) -> Result<(TxOutcome, Option<Address>), ChainError> {
    let payer_addr = payer.ok_or(ChainError::NoPayer)?;
    let pending = {
        let _guard = match send_lock {
            Some(l) => Some(l.lock().await),
            None => None,
        };
        let tx = within_caps(provider, url, payer, options, tx).await?;
        provider
            .send_transaction(tx)
            .await
            .map_err(|e| map_rpc(e, url, payer))?
    };
    let hash = *pending.tx_hash();
    let receipt = pending
        .with_required_confirmations(options.confirmations.max(1))
        .with_timeout(Some(options.receipt_timeout))
        .get_receipt()
        .await
        .map_err(|e| ChainError::Dropped {
            tx_hash: hash.to_string(),
            reason: scrub(&e.to_string(), url),
        })?;
    let block = receipt.block_number.unwrap_or_default();
    if !receipt.status() {
        return Err(ChainError::Reverted {
            tx_hash: hash.to_string(),
            block,
            reason: format!(
                "status 0 (payer {payer_addr}); the call passed gas estimation, so state changed in between"
            ),
        });
    }
    Ok((
        TxOutcome {
            tx_hash: hash.0,
            block,
            gas_used: receipt.gas_used,
        },
        receipt.contract_address.map(to_core),
    ))
}

impl RpcRegistry {
    /// Connects to the registry at `registry` on the node at `url`; checks the
    /// node answers, the chain id (if expected), the pin (if given: chain id
    /// and genesis hash before the registry is even looked at) and that the
    /// registry's proven code is this build's.
    pub async fn connect(
        url: &str,
        registry: Address,
        payer: Option<&SecretKey>,
        options: RpcOptions,
    ) -> Result<Self, ChainError> {
        Self::connect_quorum(&[url.to_string()], None, registry, payer, options).await
    }

    /// Like [`RpcRegistry::connect`] over several providers (issue 14, item
    /// 3): the headers every proof is checked against — block 0's for the
    /// pin, the latest for reads — are those `quorum` of them (default: a
    /// majority, [`crate::default_quorum`]) return the same hash for
    /// (the `quorum` module); fewer agreeing is [`ChainError::QuorumFailed`].
    /// The proofs come from one agreeing provider; transactions, logs and
    /// `verifySession` go through the first URL. One URL is
    /// [`RpcRegistry::connect`] (`quorum` must then be 1 if given).
    pub async fn connect_quorum(
        urls: &[String],
        quorum: Option<usize>,
        registry: Address,
        payer: Option<&SecretKey>,
        options: RpcOptions,
    ) -> Result<Self, ChainError> {
        let Some(first) = urls.first() else {
            return Err(ChainError::InvalidArgument("no RPC URL given".into()));
        };
        let (provider, shown, payer) = provider(first, payer)?;
        let quorum = if urls.len() > 1 {
            let mut members = vec![Member {
                provider: provider.clone(),
                url: shown.clone(),
            }];
            for url in &urls[1..] {
                let (provider, url, _) = self::provider(url, None)?;
                members.push(Member { provider, url });
            }
            let k = quorum.unwrap_or_else(|| crate::default_quorum(urls.len()));
            // Reads are of the k-th highest head less the blocks a write
            // waits for beyond its own: what a confirmed write is in.
            Some(Quorum::new(
                members,
                k,
                options.confirmations.saturating_sub(1),
            )?)
        } else {
            if quorum.is_some_and(|k| k != 1) {
                return Err(ChainError::InvalidArgument(format!(
                    "a quorum of {} needs as many RPC URLs (give --chain several times); one was given",
                    quorum.unwrap_or(0)
                )));
            }
            None
        };
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|e| map_rpc(e, &shown, payer))?;
        if let Some(expected) = options.expected_chain_id
            && expected != chain_id
        {
            return Err(ChainError::WrongChainId {
                expected,
                got: chain_id,
            });
        }
        let genesis_hash = match &quorum {
            None => pin::genesis_hash(&provider, &shown).await?,
            Some(q) => q.agree_at(0, Vec::new()).await?.header.hash.0,
        };
        if let Some(p) = &options.pin {
            p.check_chain(chain_id, genesis_hash)?;
            // The code hash is checked below, once proven.
            p.check_address(registry)?;
        }
        let domain = Domain {
            chain_id,
            verifying_contract: registry,
        };
        let verifier = match &quorum {
            None => {
                Verifier::connect(
                    &provider,
                    &shown,
                    &domain,
                    options.max_head_age,
                    options.clock.clone(),
                )
                .await?
            }
            Some(q) => {
                let v =
                    Verifier::new(&shown, &domain, options.max_head_age, options.clock.clone())?;
                let (header, source) = trusted_head(q, &v).await?;
                v.check_registry(&source.provider, &source.url, &header)
                    .await?;
                v
            }
        };
        let observed = ChainPin {
            chain_id,
            genesis_hash,
            registry,
            code_hash: verifier.code_hash().0,
        };
        if let Some(p) = &options.pin {
            p.check(&observed)?;
        }
        Ok(RpcRegistry {
            pin: observed,
            provider,
            url: shown,
            registry,
            chain_id,
            payer,
            options,
            verifier,
            quorum,
            verified_block: std::sync::atomic::AtomicU64::new(0),
            send_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Notes that a read was verified at `header`.
    fn verified_at(&self, header: &VerifiedHeader) {
        self.verified_block
            .fetch_max(header.number, std::sync::atomic::Ordering::Relaxed);
    }

    /// `id`'s status, proven, and the header it was proven against: the
    /// provider's own latest, or the one the quorum trusts, with the proof
    /// from its first agreeing provider.
    async fn proven_status(&self, id: Address) -> Result<(IdStatus, VerifiedHeader), ChainError> {
        let (status, header) = match &self.quorum {
            None => self.verifier.status(&self.provider, id).await?,
            Some(q) => {
                let (header, source) = trusted_head(q, &self.verifier).await?;
                let status = self
                    .verifier
                    .status_at(&source.provider, &source.url, &header, id)
                    .await?;
                (status, header)
            }
        };
        self.verified_at(&header);
        Ok((status, header))
    }

    /// The header reads are judged at: the provider's latest, or the quorum's.
    async fn trusted_header(&self) -> Result<VerifiedHeader, ChainError> {
        let header = match &self.quorum {
            None => self.verifier.latest_header(&self.provider).await?,
            Some(q) => trusted_head(q, &self.verifier).await?.0,
        };
        self.verified_at(&header);
        Ok(header)
    }

    /// The chain and registry as checked at connect: chain id, genesis hash,
    /// registry address and its code hash (this build's, proven on chain),
    /// for a home to pin on first use.
    pub fn pin(&self) -> ChainPin {
        self.pin
    }

    /// The payer's address, if a payer key was given.
    pub fn payer(&self) -> Option<Address> {
        self.payer
    }

    async fn send(&self, input: Bytes) -> Result<TxOutcome, ChainError> {
        let tx = TransactionRequest::default()
            .with_to(to_alloy(self.registry))
            .with_input(input);
        Ok(send_and_wait(
            &self.provider,
            &self.url,
            self.payer,
            &self.options,
            tx,
            Some(&self.send_lock),
        )
        .await?
        .0)
    }

    async fn view(&self, input: Bytes) -> Result<Bytes, ChainError> {
        let tx = TransactionRequest::default()
            .with_to(to_alloy(self.registry))
            .with_input(input);
        self.provider
            .call(tx)
            .block(BlockId::pending())
            .await
            .map_err(|e| map_rpc(e, &self.url, self.payer))
    }
}

/// Deploys the registry from the committed artifact with `payer` paying gas,
/// through the deterministic deployment proxy ([`crate::create2`]): its
/// address is [`crate::create2::registry_address`] on every chain, computed
/// locally. Idempotent: when that address already holds this build's code,
/// nothing is sent and the outcome is `None`; other code there is
/// [`ChainError::WrongContract`], a chain without the proxy
/// [`ChainError::NoDeployer`]. Two deploys racing on one chain both succeed:
/// the loser's transaction fails (the proxy reverts, or its gas estimate
/// already does), finds the registry in place (mined, or in the winner's
/// pending transaction) and reports `None`. With `options.pin`, the chain and the registry to
/// be are checked against it before anything is signed.
pub async fn deploy_with(
    url: &str,
    payer: &SecretKey,
    options: &RpcOptions,
) -> Result<(Address, Option<TxOutcome>), ChainError> {
    use crate::create2::{DEPLOYMENT_PROXY, registry_address, registry_deploy_calldata};
    let (provider, shown, payer) = provider(url, Some(payer))?;
    let chain_id = provider
        .get_chain_id()
        .await
        .map_err(|e| map_rpc(e, &shown, payer))?;
    if let Some(expected) = options.expected_chain_id
        && expected != chain_id
    {
        return Err(ChainError::WrongChainId {
            expected,
            got: chain_id,
        });
    }
    let address = registry_address();
    let expected = crate::verified::code::expected_code(&Domain {
        chain_id,
        verifying_contract: address,
    })
    .map_err(ChainError::InvalidData)?;
    if let Some(p) = &options.pin {
        p.check_chain(chain_id, pin::genesis_hash(&provider, &shown).await?)?;
        p.check_registry(address, alloy::primitives::keccak256(&expected).0)?;
    }
    let code_at = |a: Address| {
        let provider = &provider;
        let shown = &shown;
        async move {
            provider
                .get_code_at(to_alloy(a))
                .await
                .map_err(|e| map_rpc(e, shown, payer))
        }
    };
    let present = code_at(address).await?;
    if !present.is_empty() {
        return if present[..] == expected[..] {
            Ok((address, None))
        } else {
            Err(ChainError::WrongContract(address))
        };
    }
    if code_at(DEPLOYMENT_PROXY).await?.is_empty() {
        return Err(ChainError::NoDeployer {
            proxy: DEPLOYMENT_PROXY,
        });
    }
    let tx = TransactionRequest::default()
        .with_to(to_alloy(DEPLOYMENT_PROXY))
        .with_input(Bytes::from(registry_deploy_calldata()));
    let sent = send_and_wait(&provider, &shown, payer, options, tx, None).await;
    // Whatever happened to the transaction, the code at the address decides.
    let present = code_at(address).await?;
    match sent {
        Ok((outcome, _)) if present[..] == expected[..] => Ok((address, Some(outcome))),
        Ok((outcome, _)) => Err(ChainError::InvalidData(format!(
            "the deployment {} succeeded but {address} holds {} bytes of other code than this build's registry",
            hex::encode(outcome.tx_hash),
            present.len()
        ))),
        // Another deploy got there first: the registry is in place.
        Err(_) if present[..] == expected[..] => Ok((address, None)),
        Err(e) => {
            // Or its transaction is pending (our estimate ran after it).
            let pending = provider.get_code_at(to_alloy(address)).pending().await;
            match pending {
                Ok(code) if code[..] == expected[..] => Ok((address, None)),
                _ => Err(e),
            }
        }
    }
}

#[async_trait]
impl Registry for RpcRegistry {
    fn domain(&self) -> Domain {
        Domain {
            chain_id: self.chain_id,
            verifying_contract: self.registry,
        }
    }

    fn trust(&self) -> Trust {
        match &self.quorum {
            None => Trust::SingleRpc,
            Some(q) => Trust::Quorum {
                k: q.k,
                n: q.members.len(),
            },
        }
    }

    fn verified_block(&self) -> Option<u64> {
        match self
            .verified_block
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            0 => None,
            n => Some(n),
        }
    }

    async fn register(&self, c: &Signed<Certificate>) -> Result<TxOutcome, ChainError> {
        self.send(calls::register(c)).await
    }

    async fn renew(&self, r: &Signed<Renewal>) -> Result<TxOutcome, ChainError> {
        self.send(calls::renew(r)).await
    }

    async fn revoke(&self, r: &Signed<Revocation>) -> Result<TxOutcome, ChainError> {
        self.send(calls::revoke(r)).await
    }

    async fn set_endpoint(&self, e: &Signed<Endpoint>) -> Result<TxOutcome, ChainError> {
        self.send(calls::set_endpoint(e)).await
    }

    async fn status(&self, id: Address) -> Result<IdStatus, ChainError> {
        Ok(self.proven_status(id).await?.0)
    }

    /// Registered, not revoked and unexpired, from the proven status word;
    /// expiry judged at max(the verified block's time, the local clock), so a
    /// node serving an old block cannot make an expired certificate valid.
    async fn is_valid(&self, id: Address) -> Result<bool, ChainError> {
        let (status, header) = self.proven_status(id).await?;
        Ok(status
            .check(header.timestamp.max(self.verifier.clock().now()))
            .is_ok())
    }

    async fn public_key_at(&self, id: Address, block: u64) -> Result<PublicKey, ChainError> {
        // Exactly one block: public providers refuse log queries over the whole chain.
        let filter = Filter::new()
            .address(to_alloy(self.registry))
            .event_signature(R::Registered::SIGNATURE_HASH)
            .topic1(B256::left_padding_from(id.as_bytes()))
            .from_block(block)
            .to_block(block);
        let logs = self
            .provider
            .get_logs(&filter)
            .await
            .map_err(|e| map_rpc(e, &self.url, self.payer))?;
        let log = logs
            .iter()
            .find(|l| {
                l.address() == to_alloy(self.registry)
                    && l.topics().first() == Some(&R::Registered::SIGNATURE_HASH)
            })
            .ok_or_else(|| {
                ChainError::InvalidData(format!("no Registered log for {id} in block {block}"))
            })?;
        calls::decode_registered_key(id, &log.data().data)
    }

    async fn endpoint(&self, id: Address) -> Result<Option<EndpointRecord>, ChainError> {
        let (record, header) = match &self.quorum {
            None => self.verifier.endpoint(&self.provider, id).await?,
            Some(q) => {
                let (header, source) = trusted_head(q, &self.verifier).await?;
                let record = self
                    .verifier
                    .endpoint_at(&source.provider, &source.url, &header, id)
                    .await?;
                (record, header)
            }
        };
        self.verified_at(&header);
        Ok(record)
    }

    async fn verify_session(&self, r: &Signed<SessionRequest>) -> Result<(), ChainError> {
        calls::decode_verify_session(&self.view(calls::verify_session(r)).await?)
    }

    /// max(the latest verified block's time, the local clock): the time the
    /// proof-checked views are judged at.
    async fn now(&self) -> Result<u64, ChainError> {
        let header = self.trusted_header().await?;
        Ok(header.timestamp.max(self.verifier.clock().now()))
    }
}

/// The header `q` trusts, within the freshness and skew bounds of `v`,
/// and the agreeing provider its proofs are to come from.
async fn trusted_head<'q>(
    q: &'q Quorum,
    v: &Verifier,
) -> Result<(VerifiedHeader, &'q Member), ChainError> {
    let agreed = q.head().await?;
    let names: Vec<&str> = agreed
        .agreeing
        .iter()
        .map(|&i| q.members[i].url.as_str())
        .collect();
    v.check_fresh(&agreed.header, &names.join(", "))?;
    Ok((agreed.header, &q.members[agreed.agreeing[0]]))
}

/// Unix seconds from the local clock (0 before 1970).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn scrub_removes_every_url() {
        let m = "error sending request for url (https://h.example/v3/KEY?x=1); retry http://a/b c";
        let s = scrub(m, "https://h.example:443");
        assert!(!s.contains("KEY") && !s.contains("http://a/b"), "{s}");
        assert_eq!(scrub("no url here", "x"), "no url here");
    }
}
