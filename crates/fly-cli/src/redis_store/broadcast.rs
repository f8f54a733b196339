//! Fleet-wide invalidation: `PUBLISH` on `{prefix}invalidate`, and a
//! [`Subscription`] task that hands what it hears to a callback.
//!
//! Pub/sub keeps nothing for a subscriber that is away, so after an outage
//! the subscription reports [`BroadcastEvent::Resynced`]: whatever the stack
//! cached meanwhile may have been invalidated elsewhere, and is to be dropped.

use std::sync::Arc;
use std::time::Duration;

use atlas_app_server::StorageError;
use futures_util::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use redis::cmd;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::keys::valid_scope;
use super::store::RedisStore;

/// The first pause before re-subscribing after a loss.
const RETRY_MIN: Duration = Duration::from_millis(50);
/// The longest pause between two attempts while Redis is away.
const RETRY_MAX: Duration = Duration::from_secs(1);
/// How often a quiet subscription checks that its connection still answers
/// (a peer that vanished without closing the socket is otherwise unseen).
const PING_EVERY: Duration = Duration::from_secs(5);

/// What a [`Subscription`] hands to its callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BroadcastEvent {
    /// Another stack dropped this scope's token: drop it too.
    Invalidated {
        /// The scope.
        scope: String,
        /// The store that published it ([`RedisStore::origin`]).
        origin: String,
    },
    /// Subscribed again after an outage: messages may have been missed, so
    /// drop every scope's token held in memory.
    Resynced,
}

/// Where a [`Subscription`] stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionState {
    /// Connecting (first time, or after a loss).
    Connecting,
    /// Subscribed: messages published from now on arrive.
    Subscribed,
    /// Redis is away; retrying with backoff.
    Down,
}

/// The message on the wire: a scope and who sent it, never a token.
#[derive(Serialize, Deserialize)]
struct Wire {
    v: u32,
    scope: String,
    origin: String,
}

type Callback = Arc<dyn Fn(BroadcastEvent) + Send + Sync>;

/// A running subscription to the invalidation channel, on its own pub/sub
/// connection. It reconnects by itself; dropping it ends the task.
#[must_use = "the subscription ends when dropped"]
pub struct Subscription {
    state: watch::Receiver<SubscriptionState>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscription {
    /// Where it stands now.
    pub fn state(&self) -> SubscriptionState {
        *self.state.borrow()
    }

    /// Waits until it is subscribed (so a message published after this
    /// returns is heard), for at most `within`; whether it is.
    pub async fn wait_subscribed(&self, within: Duration) -> bool {
        let mut state = self.state.clone();
        let subscribed = state.wait_for(|s| *s == SubscriptionState::Subscribed);
        let outcome = tokio::time::timeout(within, subscribed).await;
        matches!(outcome, Ok(Ok(_)))
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("state", &self.state()).finish()
    }
}

impl RedisStore {
    /// Tells every subscribed stack (on any machine) to drop `scope`'s
    /// token; returns how many subscriptions heard it.
    ///
    /// # Errors
    /// [`StorageError::Unavailable`].
    pub async fn publish_invalidation(&self, scope: &str) -> Result<usize, StorageError> {
        if !valid_scope(scope) {
            return Err(StorageError::Io(format!("invalid scope {scope:?}")));
        }
        let wire = Wire {
            v: 1,
            scope: scope.to_owned(),
            origin: self.origin().to_owned(),
        };
        // Two strings and a number always serialize.
        let message = serde_json::to_string(&wire).unwrap_or_default();
        let channel = self.inner.keys.channel();
        self.inner
            .conn
            .run("PUBLISH", |mut c| async move {
                cmd("PUBLISH").arg(channel).arg(message).query_async(&mut c).await
            })
            .await
    }

    /// Starts listening for invalidations on a connection of its own and
    /// calls `on_event` for each (from the subscription's task: keep it
    /// short). Messages this store published itself are not delivered. Must
    /// be called within a tokio runtime.
    pub fn subscribe(&self, on_event: impl Fn(BroadcastEvent) + Send + Sync + 'static) -> Subscription {
        let (tx, rx) = watch::channel(SubscriptionState::Connecting);
        let task = tokio::spawn(listen(self.clone(), Arc::new(on_event), tx));
        Subscription { state: rx, task }
    }
}

/// The subscription's life: subscribe, listen until the connection is lost,
/// wait, again. `Resynced` follows every subscription but a first one that
/// worked at once.
async fn listen(store: RedisStore, on_event: Callback, state: watch::Sender<SubscriptionState>) {
    let mut missed = false;
    let mut pause = RETRY_MIN;
    loop {
        state.send_replace(SubscriptionState::Connecting);
        match subscribe_once(&store).await {
            Ok((sink, stream)) => {
                state.send_replace(SubscriptionState::Subscribed);
                if missed {
                    tracing::info!(url = %store.settings().url(), "invalidation channel back; dropping what may have been missed");
                    on_event(BroadcastEvent::Resynced);
                }
                pause = RETRY_MIN;
                relay(&store, &on_event, sink, stream).await;
                tracing::warn!(url = %store.settings().url(), "lost the redis invalidation channel; reconnecting");
            }
            Err(e) => {
                if !missed {
                    tracing::warn!(error = %e, "cannot subscribe to the redis invalidation channel; retrying");
                }
            }
        }
        missed = true;
        state.send_replace(SubscriptionState::Down);
        tokio::time::sleep(super::jitter(pause).max(RETRY_MIN / 2)).await;
        pause = (pause * 2).min(RETRY_MAX);
    }
}

async fn subscribe_once(store: &RedisStore) -> Result<(PubSubSink, PubSubStream), StorageError> {
    let conn = &store.inner.conn;
    let channel = store.inner.keys.channel();
    let attempt = async {
        let (mut sink, stream) = conn.client().get_async_pubsub().await?.split();
        sink.subscribe(&channel).await?;
        Ok::<_, redis::RedisError>((sink, stream))
    };
    match tokio::time::timeout(conn.deadline(), attempt).await {
        Ok(Ok(pair)) => Ok(pair),
        Ok(Err(e)) => Err(conn.error("SUBSCRIBE", &e)),
        Err(_) => Err(StorageError::Unavailable(format!(
            "redis at {}: SUBSCRIBE: no answer within {} ms",
            store.settings().url(),
            conn.deadline().as_millis()
        ))),
    }
}

/// Hands messages on until the stream ends or a health-check ping fails.
async fn relay(store: &RedisStore, on_event: &Callback, mut sink: PubSubSink, mut stream: PubSubStream) {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(msg) = msg else { return };
                let Ok(payload) = msg.get_payload::<String>() else { continue };
                match serde_json::from_str::<Wire>(&payload) {
                    Ok(w) if w.v == 1 && valid_scope(&w.scope) => {
                        if w.origin != store.origin() {
                            on_event(BroadcastEvent::Invalidated { scope: w.scope, origin: w.origin });
                        }
                    }
                    _ => tracing::debug!(bytes = payload.len(), "ignoring an unreadable invalidation message"),
                }
            }
            _ = ping.tick() => {
                let answer = tokio::time::timeout(store.inner.conn.deadline(), sink.ping::<redis::Value>()).await;
                if !matches!(answer, Ok(Ok(_))) {
                    return;
                }
            }
        }
    }
}
