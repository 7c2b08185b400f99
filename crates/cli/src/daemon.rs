//! The CLI through a running daemon (issue 16): when a `serve` of this home
//! answers on its API socket, on the chain this command would use, `send`,
//! `inbox`, `outbox`, `lookup`, `contact …` and `verify` ask it instead of
//! unlocking the keystore and opening the store and the chain themselves —
//! no password, no scrypt. The daemon answers with the objects the command
//! would have built, errors with the command's kind, message and exit code,
//! so output and exit codes are the same either way. `--no-daemon` does the
//! command here; a socket nobody answers (a daemon killed) is ignored.

use chainmail_node::daemon_client::{DaemonClient, DaemonError, Notification};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::context::Context;
use crate::error::{Failure, exit};

/// A connection to this home's daemon.
pub struct Daemon<'a> {
    ctx: &'a Context,
    client: DaemonClient,
}

/// The daemon of `ctx`'s home, if one runs for it on the same chain.
pub fn connect(ctx: &Context) -> Option<Daemon<'_>> {
    let settings = ctx.settings();
    if settings.no_daemon {
        return None;
    }
    let path = crate::api::socket::path(&settings.home).ok()?;
    // Only a socket of this user is a daemon of ours (nothing else
    // answering at that path is trusted with a message or a command).
    if !crate::api::socket::ours(&path) {
        return None;
    }
    let client = ctx
        .block_on(async {
            let mut client = DaemonClient::connect(&path).await.map_err(failure)?;
            let status = client
                .call("status", Value::Object(Default::default()))
                .await
                .map_err(failure)?;
            Ok((client, status))
        })
        .inspect_err(|e| tracing::debug!(error = %e.line(), "no daemon answers; doing it here"))
        .ok()
        .and_then(|(client, status)| {
            // The same chain read the same way (one provider or a quorum).
            let same_chain = status["chain"].as_str() == Some(settings.chain())
                && status["trust"].as_str() == Some(settings.trust().as_str());
            if !same_chain {
                tracing::info!("the running daemon serves another chain; doing it here");
            }
            same_chain.then_some(client)
        })?;
    tracing::debug!(socket = %path.display(), "through the daemon");
    Some(Daemon { ctx, client })
}

/// The daemon's error as the command's own.
pub(crate) fn failure(e: DaemonError) -> Failure {
    match e {
        DaemonError::Rpc {
            kind,
            message,
            exit: code,
            ..
        } => Failure {
            kind,
            // The daemon's message already ends in the hint.
            message,
            hint: String::new(),
            code: code.unwrap_or(exit::ERROR),
        },
        e => Failure::new(
            "DaemonError",
            e.to_string(),
            "retry, or pass --no-daemon to do it without the daemon",
        ),
    }
}

impl Daemon<'_> {
    /// Calls `method`; its result as `T`.
    pub fn call<T: DeserializeOwned>(&mut self, method: &str, params: Value) -> Result<T, Failure> {
        let client = &mut self.client;
        let v = self
            .ctx
            .block_on(async { client.call(method, params).await.map_err(failure) })?;
        serde_json::from_value(v).map_err(|e| {
            Failure::new(
                "DaemonError",
                format!("the daemon's answer to {method} is not what this chainmail expects: {e}"),
                "run the same version of chainmail for `serve` and the command, or pass --no-daemon",
            )
        })
    }

    /// Subscribes to events from now; the cursor.
    pub fn subscribe(&mut self) -> Result<i64, Failure> {
        let client = &mut self.client;
        self.ctx
            .block_on(async { client.subscribe(None).await.map_err(failure) })
    }

    /// The next notification.
    pub fn next_notification(&mut self) -> Result<Notification, Failure> {
        let client = &mut self.client;
        self.ctx.block_on(async {
            client.next_notification().await.map_err(|e| match e {
                DaemonError::Closed => Failure::new(
                    "DaemonStopped",
                    "the daemon stopped",
                    "run the command again (it works without a daemon too)",
                ),
                e => failure(e),
            })
        })
    }
}
