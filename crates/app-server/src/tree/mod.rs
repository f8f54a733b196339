//! The stack's supervision tree (SPEC.md §4):
//!
//! ```text
//! tokens (rest_for_one)
//! ├── registry   app name → AppServer
//! ├── table      owns the shared token table
//! ├── tasks      background persists
//! ├── apps       dynamic supervisor (one_for_one, 20 restarts / 60 s)
//! │   ├── AppServer "my-app"
//! │   └── …
//! └── invalidations   only when the store broadcasts (listener.rs)
//! ```
//!
//! Each child's start function creates a fresh part and records it; `apps`
//! starts last and publishes the parts as one [`Incarnation`]. Because the
//! strategy is `rest_for_one`, a restart of any child ends with a new
//! `apps`, hence a new incarnation: a registry crash rebuilds everything, a
//! table crash rebuilds the table, the task supervisor and every AppServer
//! (the cache is empty, the first call per app reads storage), and an
//! AppServer crash is handled inside `apps` alone. `invalidations`, last,
//! restarts alone.

mod current;
mod listener;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atlas_registry::Registry;
use atlas_supervisor::{
    Child, ChildContext, ChildSpec, DynamicSupervisor, ExitReason, Shutdown, StartError, Strategy, Supervisor,
    TaskSupervisor,
};
use parking_lot::{Mutex, RwLock};

pub(crate) use current::{Current, Incarnation};

use crate::clock::ClockRef;
use crate::persist::PersistLanes;
use crate::table::{self, TokenTable};
use crate::{InvalidationFeed, Storage, TokensConfig};

/// Everything one stack shares across the incarnations of its tree.
pub(crate) struct Stack {
    pub(crate) current: Current,
    /// The token table, following its owner's incarnations: the facade's
    /// fast path reads the live one through it.
    pub(crate) table: table::Tokens,
    /// What AppServers snapshot when they start (`Tokens::reconfigure`
    /// replaces it; running servers keep theirs).
    pub(crate) config: Arc<RwLock<Arc<TokensConfig>>>,
    pub(crate) clock: ClockRef,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) lanes: Arc<PersistLanes>,
    /// The store's invalidation broadcast, between two listeners (taken by
    /// the running one).
    pub(crate) feed: Mutex<Option<InvalidationFeed>>,
    /// How many times a listener started (the first start misses nothing).
    pub(crate) listener_starts: AtomicU64,
}

impl Stack {
    /// Must run within a tokio runtime (the store may start a subscription).
    pub(crate) fn new(config: TokensConfig) -> Self {
        Self {
            current: Current::default(),
            table: table::Tokens::new(),
            clock: config.clock.clone(),
            storage: config.storage.clone(),
            feed: Mutex::new(config.storage.subscribe_invalidations()),
            listener_starts: AtomicU64::new(0),
            config: Arc::new(RwLock::new(Arc::new(config))),
            lanes: Arc::new(PersistLanes::default()),
        }
    }
}

/// Root intensity: Elixir's `Supervisor` default (3 restarts in 5 s).
const ROOT_INTENSITY: (u32, Duration) = (3, Duration::from_secs(5));
/// The dynamic supervisor's intensity, as in the original.
const APPS_INTENSITY: (u32, Duration) = (20, Duration::from_secs(60));
/// How long the task supervisor may take to finish queued persists when
/// the tree stops.
const TASKS_SHUTDOWN: Duration = Duration::from_secs(30);

/// The root supervisor of `stack`.
pub(crate) fn supervisor(stack: &Arc<Stack>, name: Arc<str>, max_apps: Option<usize>) -> Supervisor {
    let root = Supervisor::new(Strategy::RestForOne)
        .name(name)
        .intensity(ROOT_INTENSITY.0, ROOT_INTENSITY.1)
        .child(registry_spec(stack.clone()))
        .child(table_spec(stack))
        .child(tasks_spec(stack.clone()))
        .child(apps_spec(stack.clone(), max_apps));
    match listener::spec(stack) {
        Some(listener) => root.child(listener),
        None => root,
    }
}

/// Clears a flag when the child's task ends, however it ends.
struct AliveFlag(Arc<AtomicBool>);

impl Drop for AliveFlag {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// A child that does nothing but live until stopped, holding `guard`.
fn idle_child<G: Send + 'static>(ctx: &ChildContext, guard: G) -> Child {
    let stop = ctx.shutdown_signal();
    Child::new(async move {
        let _guard = guard;
        stop.cancelled().await;
        ExitReason::Shutdown
    })
}

fn registry_spec(stack: Arc<Stack>) -> ChildSpec {
    ChildSpec::worker("registry", move |ctx: ChildContext| {
        let registry = Registry::new();
        let alive = Arc::new(AtomicBool::new(true));
        {
            let mut parts = stack.current.parts.lock();
            parts.registry = Some((registry, alive.clone()));
        }
        let child = idle_child(&ctx, AliveFlag(alive));
        async move { Ok::<_, StartError>(child) }
    })
}

fn table_spec(stack: &Stack) -> ChildSpec {
    stack.table.owner().child_spec("table")
}

fn tasks_spec(stack: Arc<Stack>) -> ChildSpec {
    ChildSpec::worker("tasks", move |ctx: ChildContext| {
        let (tasks, child) = TaskSupervisor::start_linked("tasks", ctx);
        stack.current.parts.lock().tasks = Some(tasks);
        async move { Ok::<_, StartError>(child) }
    })
    .shutdown(Shutdown::Timeout(TASKS_SHUTDOWN))
}

fn apps_spec(stack: Arc<Stack>, max_apps: Option<usize>) -> ChildSpec {
    ChildSpec::supervisor("apps", move |ctx: ChildContext| {
        let mut apps = DynamicSupervisor::new()
            .name("apps")
            .intensity(APPS_INTENSITY.0, APPS_INTENSITY.1);
        if let Some(max) = max_apps {
            apps = apps.max_children(max);
        }
        let (apps, child) = apps.start_linked(ctx);
        let published = {
            let parts = stack.current.parts.lock();
            let table = TokenTable::bind(&stack.table);
            match (&parts.registry, table, &parts.tasks) {
                (Some((registry, registry_alive)), Some(table), Some(tasks)) => {
                    let inc = Incarnation {
                        generation: stack.current.next_generation(),
                        registry: registry.clone(),
                        registry_alive: registry_alive.clone(),
                        table,
                        scopes: crate::scopes::Scopes::default(),
                        user_token_reads: crate::seams::UserTokenReads::default(),
                        tasks: tasks.clone(),
                        apps,
                        lanes: stack.lanes.clone(),
                    };
                    stack.current.publish(Arc::new(inc));
                    Ok(child)
                }
                _ => Err(StartError::new(
                    "apps started before the registry, the table and the tasks",
                )),
            }
        };
        async move { published }
    })
}
