//! The `invalidations` child, in the tree only when the store broadcasts:
//! what another stack sharing the store dropped (a rejected token, a
//! refresh), this stack drops from its table too, for every app of the
//! scope, so no replica keeps serving a token the API has rejected.
//!
//! After an outage of the store (the feed's [`Invalidation::Resynced`]),
//! it drops every scope's token (what it may have missed), then deletes
//! the rejected tokens a refresh could not delete meanwhile.
//!
//! The feed belongs to the stack, not to one incarnation of the child: a
//! restarted listener takes it back with whatever queued meanwhile, and
//! drops everything once, since the event its predecessor was handling may
//! be lost.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use atlas_supervisor::{Child, ChildContext, ChildSpec, ExitReason, RestartType, StartError};

use super::{Incarnation, Stack};
use crate::scopes::ScopeSlot;
use crate::{Invalidation, InvalidationFeed, Scope};

/// The child spec; `None` when the store has no broadcast.
pub(crate) fn spec(stack: &Arc<Stack>) -> Option<ChildSpec> {
    stack.feed.lock().as_ref()?;
    let stack = stack.clone();
    let spec = ChildSpec::worker("invalidations", move |ctx: ChildContext| {
        let stop = ctx.shutdown_signal();
        let taken = Taken::from(&stack);
        let restarted = stack.listener_starts.fetch_add(1, Ordering::AcqRel) > 0;
        async move {
            let Some(mut taken) = taken else {
                return Ok::<_, StartError>(Child::ignore());
            };
            Ok(Child::new(async move {
                if restarted {
                    apply(&taken.stack, &Invalidation::Resynced);
                }
                loop {
                    let Some(feed) = taken.feed.as_mut() else {
                        return ExitReason::Normal;
                    };
                    let event = tokio::select! {
                        biased;
                        () = stop.cancelled() => return ExitReason::Shutdown,
                        event = feed.recv() => event,
                    };
                    match event {
                        Some(Invalidation::Resynced) => {
                            apply(&taken.stack, &Invalidation::Resynced);
                            // The store is back: delete what a refresh could
                            // not while it was away.
                            let stack = &taken.stack;
                            stack.lanes.pay_owed(&*stack.storage).await;
                        }
                        Some(event) => apply(&taken.stack, &event),
                        // The store ended its broadcast.
                        None => return ExitReason::Normal,
                    }
                }
            }))
        }
    })
    .restart(RestartType::Transient);
    Some(spec)
}

/// The stack's feed, taken by one listener; given back when it ends,
/// however it ends (a kill included).
struct Taken {
    stack: Arc<Stack>,
    feed: Option<InvalidationFeed>,
}

impl Taken {
    fn from(stack: &Arc<Stack>) -> Option<Self> {
        let feed = stack.feed.lock().take()?;
        Some(Taken {
            stack: stack.clone(),
            feed: Some(feed),
        })
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        if let Some(feed) = self.feed.take() {
            *self.stack.feed.lock() = Some(feed);
        }
    }
}

/// Drops what `event` says in the running incarnation (an older one's
/// table is dead already; a newer one starts empty).
pub(crate) fn apply(stack: &Stack, event: &Invalidation) {
    let Some(inc) = stack.current.get() else { return };
    match event {
        Invalidation::Scope(scope) => {
            let dropped = drop_scope(&inc, scope);
            tracing::debug!(scope = %scope, apps = dropped, "another stack invalidated the scope's token");
        }
        Invalidation::Resynced => {
            let dropped = drop_all(&inc);
            tracing::info!(
                apps = dropped,
                "invalidations may have been missed; dropped every scope's token"
            );
        }
    }
}

/// Forgets the scope's token and removes the table entry of every app that
/// was served it; how many.
fn drop_scope(inc: &Incarnation, scope: &Scope) -> usize {
    inc.scopes.get(scope).map_or(0, |slot| forget(inc, &slot))
}

fn drop_all(inc: &Incarnation) -> usize {
    inc.scopes.all().iter().map(|slot| forget(inc, slot)).sum()
}

fn forget(inc: &Incarnation, slot: &ScopeSlot) -> usize {
    let apps = slot.forget();
    for app in &apps {
        inc.table.remove(app.as_str());
    }
    apps.len()
}
