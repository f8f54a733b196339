//! loom models of the incarnation hand-off: every interleaving (up to a
//! preemption bound) of an owner's restart with a reader and a late writer
//! of the old incarnation, which `crash_restart.rs` can only hope to hit.
//!
//! Run by `cargo xtask test` (its `loom` step), or by hand:
//! `RUSTFLAGS="--cfg atlas_loom" cargo test --release --target-dir target/loom -p atlas-cache --test loom_cache`.
//! `LOOM_MAX_PREEMPTIONS` overrides the bound set here.
#![cfg(atlas_loom)]

use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;

use atlas_cache::Table;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;

/// A fixed hasher: loom replays each interleaving, so the map must behave
/// the same way on every run of the model (the default one is seeded
/// randomly per table).
type Tokens = Table<&'static str, &'static str, BuildHasherDefault<DefaultHasher>>;

/// Runs `f` under every interleaving with at most `preemptions` forced
/// switches (unless `LOOM_MAX_PREEMPTIONS` says otherwise). The bounds are
/// set so that all the models of the workspace run in seconds; a model's
/// cost grows about fivefold per extra preemption.
fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(preemptions);
    }
    builder.check(f);
}

fn table() -> Tokens {
    Table::with_hasher(BuildHasherDefault::default())
}

/// The owner restarts and its new server writes the key, while a server of
/// the old incarnation writes the same key late and a reader reads it: the
/// late write never clobbers the new value, and a reader that sees the new
/// incarnation never reads the old one's value.
#[test]
fn a_late_writer_never_clobbers_or_leaks_into_the_next_incarnation() {
    model(3, || {
        let table = table();
        let owner = table.owner();
        let first = owner.claim();
        let late = table.bind_current().expect("incarnation 1 is live");
        let restart = {
            let table = table.clone();
            thread::spawn(move || {
                drop(first);
                let second = owner.claim();
                table.insert("app", "new").expect("incarnation 2 is live");
                second
            })
        };
        let writer = thread::spawn(move || late.insert("app", "old").is_ok());
        let reader = {
            let table = table.clone();
            thread::spawn(move || {
                if table.incarnation() == Some(2) {
                    assert_ne!(table.get("app"), Some("old"), "a value of incarnation 1 read in 2");
                }
            })
        };
        reader.join().expect("no panic");
        let _late_ok = writer.join().expect("no panic");
        let _second = restart.join().expect("no panic");
        assert_eq!(table.get("app"), Some("new"), "the new incarnation's write stands");
        assert_eq!(table.len(), 1, "nothing of incarnation 1 is left");
    });
}

/// A write races its owner's death (and the next owner's start): whatever it
/// returns, it leaves no entry behind, neither visible nor counted, and a
/// read that starts after the death never sees it.
#[test]
fn a_write_racing_the_owners_death_leaves_nothing_behind() {
    model(3, || {
        let table = table();
        let owner = table.owner();
        let first = owner.claim();
        let late = table.bind_current().expect("incarnation 1 is live");
        let ended = Arc::new(AtomicBool::new(false));
        let restart = {
            let ended = ended.clone();
            thread::spawn(move || {
                drop(first);
                ended.store(true, Ordering::Release);
                owner.claim()
            })
        };
        let writer = thread::spawn(move || late.insert("app", "old").is_ok());
        let reader = {
            let table = table.clone();
            thread::spawn(move || {
                // A read that starts once the death is known never sees the
                // late write (one racing the death itself may).
                if ended.load(Ordering::Acquire) {
                    assert_eq!(table.get("app"), None, "read a value of an ended incarnation");
                }
            })
        };
        reader.join().expect("no panic");
        let _ok = writer.join().expect("no panic");
        let _second = restart.join().expect("no panic");
        assert_eq!(table.incarnation(), Some(2));
        assert_eq!(table.get("app"), None);
        assert_eq!(table.len(), 0, "no dead entry lingers");
    });
}

/// Two owners claim the table at once (the newest owner wins) and each
/// writes through a handle bound to its own incarnation: the claims are
/// distinct incarnations, a write that landed in the live one reads back,
/// nothing of the one taken over is left, and its owner ending late ends
/// nothing.
#[test]
fn two_owners_claiming_at_once_hand_over_cleanly() {
    model(5, || {
        let table = table();
        let owners: Vec<_> = ["a", "b"]
            .map(|key| {
                let table = table.clone();
                thread::spawn(move || {
                    let ownership = table.owner().claim();
                    let mine = ownership.incarnation();
                    // (A handle bound after a takeover is the winner's.)
                    let bound = table.bind_current().ok().filter(|b| b.incarnation() == Some(mine));
                    if let Some(bound) = bound {
                        if bound.insert(key, "v").is_ok() {
                            let got = bound.get(key);
                            // The word only grows: still `mine` now, it was
                            // at the read too.
                            if table.incarnation() == Some(mine) {
                                assert_eq!(got, Some("v"), "a write to the live incarnation reads back");
                            }
                        }
                    }
                    (mine, key, ownership)
                })
            })
            .into_iter()
            .collect();
        let mut owners: Vec<_> = owners.into_iter().map(|o| o.join().expect("no panic")).collect();
        owners.sort_unstable_by_key(|(mine, _, _)| *mine);
        let live = owners.pop().expect("two owners");
        let taken_over = owners.pop().expect("two owners");
        assert_eq!((taken_over.0, live.0), (1, 2), "each claim is its own incarnation");
        assert_eq!(table.incarnation(), Some(2), "the newest owner won");
        let entries = table.to_vec();
        assert!(
            entries.iter().all(|(k, _)| *k == live.1),
            "only the live incarnation's entries"
        );
        assert_eq!(table.len(), entries.len(), "no entry of incarnation 1 is left");
        drop(taken_over);
        assert_eq!(table.incarnation(), Some(2), "the taken-over owner's end ends nothing");
        drop(live);
        assert_eq!(table.incarnation(), None);
        assert_eq!(table.len(), 0);
    });
}
