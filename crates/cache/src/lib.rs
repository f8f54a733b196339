//! # atlas-cache
//!
//! An ETS-like concurrent table whose life is its owner's. Any task or thread
//! reads and writes a [`Table`] directly, through a cheap handle, with no
//! message to a server and no lock on the read path. A [`TableOwner`] runs as
//! a supervised child (from `atlas-supervisor`): each start of the owner
//! publishes a new, empty incarnation of the table, and when the owner stops,
//! crashes or is killed, that incarnation is gone. Handles follow by
//! themselves: they miss while no owner runs and use the new table after a
//! restart, without being re-created.
//!
//! ```
//! use std::sync::Arc;
//! use atlas_cache::{Expiring, Table};
//! use atlas_supervisor::{Strategy, Supervisor};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let tokens: Table<String, Expiring<Arc<str>>> = Table::new();
//! let sup = Supervisor::new(Strategy::OneForOne)
//!     .child(tokens.owner().child_spec("table"))
//!     .start()
//!     .await
//!     .expect("starts");
//!
//! let now = 1_700_000_000; // unix seconds, from the caller's clock
//! tokens.insert_expiring("my-app".to_owned(), "FlyV1 fm2_abc".into(), now + 3600).expect("owner runs");
//! // The hot path: the value is borrowed in place, nothing is cloned.
//! assert_eq!(tokens.lookup_with("my-app", now, |t| t.len()), Some(13));
//! // `expires_at == now` is already a miss.
//! assert_eq!(tokens.lookup("my-app", now + 3600), None);
//!
//! // The owner dies: the table goes with it, and the restarted owner starts
//! // an empty one that the same handle uses.
//! let owner = sup.child("table").await.expect("a child");
//! owner.child_ref().expect("running").kill();
//! while tokens.incarnation() != Some(2) {
//!     tokio::task::yield_now().await;
//! }
//! assert_eq!(tokens.lookup("my-app", now), None);
//! tokens.insert_expiring("my-app".to_owned(), "FlyV1 fm2_new".into(), now + 60).expect("owner runs");
//! assert_eq!(tokens.lookup("my-app", now).as_deref(), Some("FlyV1 fm2_new"));
//! sup.shutdown().await;
//! assert!(tokens.insert_expiring("my-app".to_owned(), "x".into(), now + 60).is_err());
//! # }
//! ```
//!
//! ## Contract
//!
//! | situation | reads | writes |
//! |---|---|---|
//! | no owner has started yet | miss | `Err(NoTable)` |
//! | an owner runs (incarnation *n*) | entries written in *n* | land in *n* |
//! | the owner stopped, crashed or was killed | miss | `Err(NoTable)` |
//! | the owner restarted (incarnation *n+1*) | entries written in *n+1* only | land in *n+1* |
//! | a write raced the owner's death | never seen by a read that starts after the death | `Err(NoTable)`, in no later incarnation |
//!
//! A read that itself races the owner's death may still see such a write:
//! the writer checks that its incarnation is live before and after the
//! write, and a read in between finds the entry with its old tag (the
//! `loom_cache` models pin this down).
//!
//! A handle from [`Table::bind_current`] is pinned to one incarnation and
//! never moves to the next one: a server started under incarnation *n* holds
//! one, so it can never write into *n+1*.
//!
//! [`Expiring`] entries carry `expires_at` (unix seconds): [`Table::lookup`]
//! and [`Table::lookup_with`] treat an entry as a miss unless
//! `expires_at > now`. The caller passes `now`; for a cheap real one use
//! [`CoarseClock`] (one atomic load) rather than `SystemTime::now()` (~35 ns,
//! more than the lookup itself).
//!
//! ## Design, and why
//!
//! - **Entries live in one [`papaya`] map for the table's whole life, each
//!   tagged with the incarnation that wrote it.** One atomic word holds the
//!   live incarnation's number and a live bit; a read loads it and accepts an
//!   entry only if the tags match, so a value from a previous incarnation is
//!   invisible *by construction*, even one written by a writer that loaded the
//!   old word just before the owner died. The word only grows, so a dead tag
//!   never matches again. The owner's [`Ownership`] guard clears the live bit
//!   and sweeps the entries when it is dropped, which also happens when the
//!   owner's task is aborted. The alternative, a fresh map per incarnation
//!   behind a swappable pointer, costs a second epoch or reference-count
//!   operation on every read; the tag costs one load of a read-mostly word.
//! - **papaya** gives lock-free reads under an epoch guard (`seize`): a read
//!   writes nothing shared, so many threads reading one hot key scale, and the
//!   borrowed access ([`Table::get_with`], [`Table::lookup_with`],
//!   [`Table::guard`]) needs no clone. The map resizes in papaya's blocking
//!   mode: a write finishes a resize at once, so reads never search two
//!   tables. `scc::HashIndex` also reads without locks, but measured slower
//!   here; a `DashMap` read takes a shard lock, whose counter two threads on
//!   one hot key fight over; a `RwLock<HashMap>` gets slower on two threads
//!   than on one. Everything here is safe code.
//! - **foldhash** is the default hasher ([`DefaultHashBuilder`]): keys like
//!   `app-123` hash in a few ns instead of ~15 ns with SipHash. It is seeded
//!   per table; supply another with [`Table::with_hasher`] when keys come from
//!   an adversary.
//!
//! ## What it does not do
//!
//! No ordered tables, no bags (one value per key, as an ETS `set`), no
//! heir: when the owner dies the entries die. Expired entries are not
//! removed on their own; they are misses, and [`Table::purge_expired`] frees
//! them.

mod clock;
mod error;
mod expiring;
mod guard;
mod loom;
mod owner;
mod shared;
mod table;

pub use clock::{system_unix, CoarseClock};
pub use error::NoTable;
pub use expiring::Expiring;
pub use guard::{Iter, TableGuard};
pub use owner::{Ownership, TableOwner};
pub use table::{DefaultHashBuilder, Table};
