//! The storage conformance suite: the contract of SPEC.md §6 as checks that
//! any [`Storage`] must pass.

use std::future::Future;

use crate::{AppName, CliFinding, FailureNote, OrgName, RecordSource, Scope, Storage, StorageKey, Token, TokenRecord};

fn app(name: &str) -> AppName {
    AppName::new(name).expect("valid test app name")
}

fn org(name: &str) -> Scope {
    Scope::Org(OrgName::new(name).expect("valid test org name"))
}

fn minted(scope: &Scope) -> StorageKey {
    StorageKey::Minted(scope.clone())
}

fn manual(name: &str) -> StorageKey {
    StorageKey::Manual(app(name))
}

/// An expiry far in the future (2096): a store may drop a minted record
/// past its expiry by itself (Redis does), so the checks that read records
/// back use unexpired ones.
const LATER: i64 = 4_000_000_000;

fn rec(key: &StorageKey, token: &str, expires_at: Option<i64>) -> TokenRecord {
    TokenRecord {
        token: Token::new(token),
        expires_at,
        source: match key {
            StorageKey::Minted(_) => RecordSource::Cli,
            StorageKey::Manual(_) => RecordSource::Manual,
        },
        scope: key.scope(),
    }
}

macro_rules! checks {
    ($($name:ident: |$s:ident| $body:block)*) => {
        /// The checks, by name, in the order [`storage_conformance`] runs them.
        pub const CHECKS: &[&str] = &[$(stringify!($name)),*];

        /// One function per check, for the `storage_conformance_tests!` macro.
        #[doc(hidden)]
        pub mod each {
            use super::*;
            $(
                #[allow(missing_docs)]
                pub async fn $name<S: Storage>($s: &S) $body
            )*
        }

        /// Runs every check, each on a fresh store from `make`; panics with the
        /// name of the first check that fails.
        pub async fn storage_conformance<S, F, Fut>(make: F)
        where
            S: Storage,
            F: Fn() -> Fut,
            Fut: Future<Output = S>,
        {
            $(
                let store = make().await;
                each::$name(&store).await;
            )*
        }
    };
}

checks! {
    absent_is_none: |s| {
        assert_eq!(s.get(&minted(&org("absent"))).await.expect("get"), None, "absent org record");
        assert_eq!(s.get(&minted(&Scope::App(app("absent")))).await.expect("get"), None, "absent app record");
        assert_eq!(s.get(&manual("absent")).await.expect("get"), None, "absent manual record");
    }
    put_then_get: |s| {
        let k = minted(&org("put-get"));
        let r = rec(&k, "FlyV1 fm2_aaaa", Some(1_900_000_000));
        s.put(&k, r.clone()).await.expect("put");
        assert_eq!(s.get(&k).await.expect("get"), Some(r), "record read back");
    }
    put_overwrites: |s| {
        let k = minted(&org("overwrite"));
        s.put(&k, rec(&k, "first", Some(LATER + 10))).await.expect("put");
        s.put(&k, rec(&k, "second", Some(LATER + 20))).await.expect("put");
        assert_eq!(s.get(&k).await.expect("get"), Some(rec(&k, "second", Some(LATER + 20))), "put overwrites");
    }
    delete_removes: |s| {
        let k = minted(&org("delete"));
        s.put(&k, rec(&k, "tok", Some(LATER))).await.expect("put");
        s.delete(&k).await.expect("delete");
        assert_eq!(s.get(&k).await.expect("get"), None, "deleted record is gone");
    }
    delete_absent_is_ok: |s| {
        s.delete(&minted(&org("never-stored"))).await.expect("delete of an absent minted record is Ok");
        s.delete(&manual("never-stored")).await.expect("delete of an absent manual record is Ok");
        let gone = s.delete_if(&minted(&org("never-stored")), &Token::new("x")).await.expect("delete_if");
        assert!(!gone, "delete_if of an absent record deletes nothing");
    }
    delete_if_compares_the_token: |s| {
        let k = minted(&org("compare"));
        s.put(&k, rec(&k, "fresh", Some(LATER))).await.expect("put");
        let gone = s.delete_if(&k, &Token::new("rejected")).await.expect("delete_if");
        assert!(!gone, "another token is not deleted");
        assert_eq!(s.get(&k).await.expect("get"), Some(rec(&k, "fresh", Some(LATER))), "the fresh token stays");
        let gone = s.delete_if(&k, &Token::new("fresh")).await.expect("delete_if");
        assert!(gone, "the same token is deleted");
        assert_eq!(s.get(&k).await.expect("get"), None);
    }
    an_org_and_an_app_of_one_name_never_collide: |s| {
        let o = minted(&org("same"));
        let a = minted(&Scope::App(app("same")));
        let m = manual("same");
        s.put(&o, rec(&o, "org-tok", Some(LATER + 1))).await.expect("put");
        s.put(&a, rec(&a, "app-tok", Some(LATER + 2))).await.expect("put");
        s.put(&m, rec(&m, "manual-tok", None)).await.expect("put");
        assert_eq!(s.get(&o).await.expect("get"), Some(rec(&o, "org-tok", Some(LATER + 1))));
        assert_eq!(s.get(&a).await.expect("get"), Some(rec(&a, "app-tok", Some(LATER + 2))));
        assert_eq!(s.get(&m).await.expect("get"), Some(rec(&m, "manual-tok", None)));
        s.delete(&o).await.expect("delete");
        assert!(s.get(&a).await.expect("get").is_some(), "the app's record survives the org's delete");
        assert!(s.get(&m).await.expect("get").is_some(), "the manual record survives the org's delete");
        s.delete(&a).await.expect("delete");
        assert!(s.get(&m).await.expect("get").is_some(), "the manual record survives the app's minted delete");
    }
    minted_and_manual_are_independent: |s| {
        let a = minted(&Scope::App(app("two-keys")));
        let m = manual("two-keys");
        s.put(&a, rec(&a, "minted-tok", Some(LATER + 100))).await.expect("put");
        s.put(&m, rec(&m, "manual-tok", None)).await.expect("put");
        s.delete(&m).await.expect("delete");
        assert_eq!(s.get(&a).await.expect("get"), Some(rec(&a, "minted-tok", Some(LATER + 100))), "minted survives deleting manual");
    }
    scopes_are_independent: |s| {
        let (a, b) = (minted(&org("org-a")), minted(&org("org-b")));
        s.put(&a, rec(&a, "tok-a", Some(LATER + 1))).await.expect("put");
        assert_eq!(s.get(&b).await.expect("get"), None, "another scope's record is not visible");
        s.put(&b, rec(&b, "tok-b", Some(LATER + 2))).await.expect("put");
        s.delete(&a).await.expect("delete");
        assert_eq!(s.get(&b).await.expect("get"), Some(rec(&b, "tok-b", Some(LATER + 2))));
    }
    source_and_scope_round_trip: |s| {
        for k in [minted(&org("meta")), minted(&Scope::App(app("meta"))), manual("meta")] {
            let r = rec(&k, "tok", Some(LATER + 3));
            s.put(&k, r.clone()).await.expect("put");
            let got = s.get(&k).await.expect("get").expect("present");
            assert_eq!((got.source, &got.scope), (r.source, &r.scope), "source and scope of {k}");
        }
    }
    expiry_round_trips: |s| {
        let k = manual("expiry");
        for exp in [None, Some(0), Some(-5), Some(i64::MAX), Some(1_700_000_000)] {
            s.put(&k, rec(&k, "tok", exp)).await.expect("put");
            assert_eq!(s.get(&k).await.expect("get").map(|r| r.expires_at), Some(exp));
        }
    }
    an_expired_minted_record_reads_back_or_is_gone: |s| {
        // A store may expire minted records by itself (Redis's own expiry);
        // if it keeps one, it reads back exactly. Manual records never expire
        // (`expiry_round_trips`).
        let k = minted(&org("expired"));
        let r = rec(&k, "old", Some(10));
        s.put(&k, r.clone()).await.expect("put of an expired record is Ok");
        let got = s.get(&k).await.expect("get");
        assert!(got.is_none() || got == Some(r), "an expired minted record is itself or gone");
        s.delete(&k).await.expect("delete");
    }
    token_bytes_round_trip: |s| {
        let k = minted(&org("bytes"));
        // Multi-part macaroon with commas, a scheme, base64 padding and a long tail.
        let long = format!("FlyV1 fm2_{}==,fm2_{}/+=", "A".repeat(2000), "b".repeat(1500));
        s.put(&k, rec(&k, &long, Some(LATER + 5))).await.expect("put");
        let got = s.get(&k).await.expect("get").expect("present");
        assert_eq!(got.token.expose(), long, "token bytes preserved exactly");
    }
    longest_names: |s| {
        for k in [minted(&org(&"x".repeat(63))), minted(&Scope::App(app(&"y".repeat(63)))), manual(&"z".repeat(63))] {
            s.put(&k, rec(&k, "tok", Some(LATER + 5))).await.expect("put");
            assert!(s.get(&k).await.expect("get").is_some(), "{k}");
        }
    }
    many_scopes: |s| {
        for i in 0..50 {
            let k = minted(&org(&format!("many-{i}")));
            s.put(&k, rec(&k, &format!("tok-{i}"), Some(LATER + i))).await.expect("put");
        }
        for i in 0..50 {
            let k = minted(&org(&format!("many-{i}")));
            let got = s.get(&k).await.expect("get").expect("present");
            assert_eq!(got.token.expose(), format!("tok-{i}"));
        }
    }
    lock_scope_is_granted: |s| {
        // Whatever a store's lease is (none, a flock, a Redis lease), it is
        // granted, and dropping it releases it: a store whose lease outlived
        // its drop would hang on the second request.
        let scope = org("lease");
        let lease = s.lock_scope(&scope).await.expect("lock");
        drop(lease);
        let again = s.lock_scope(&scope).await.expect("lock again after release");
        drop(again);
    }
    failure_notes_read_back_when_kept: |s| {
        // A store keeps failure notes (then exactly, per scope, until
        // replaced or cleared) or keeps none at all (the default).
        let (a, b) = (org("noted"), Scope::App(app("noted")));
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let note = |code| FailureNote {
            at,
            finding: CliFinding::Exited {
                code,
                stderr: "Error: not logged in".into(),
            },
        };
        assert_eq!(s.failure_note(&a).await.expect("read"), None, "no note before one is left");
        s.note_failure(&a, Some(&note(1))).await.expect("note");
        let Some(got) = s.failure_note(&a).await.expect("read") else {
            s.note_failure(&a, None).await.expect("clear");
            assert_eq!(s.failure_note(&b).await.expect("read"), None, "a store without notes has none");
            return;
        };
        assert_eq!(got, note(1));
        assert_eq!(s.failure_note(&b).await.expect("read"), None, "an org and an app of one name are apart");
        s.note_failure(&a, Some(&note(2))).await.expect("replace");
        assert_eq!(s.failure_note(&a).await.expect("read"), Some(note(2)));
        s.note_failure(&a, None).await.expect("clear");
        assert_eq!(s.failure_note(&a).await.expect("read"), None);
        s.note_failure(&a, None).await.expect("clearing no note is fine");
    }
}

/// One `#[tokio::test]` per conformance check, in a module named `$name`,
/// each on a fresh store from the async factory `$make`.
#[macro_export]
macro_rules! storage_conformance_tests {
    ($name:ident, $make:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::storage_conformance_tests!(@each $make;
                absent_is_none put_then_get put_overwrites delete_removes delete_absent_is_ok
                delete_if_compares_the_token an_org_and_an_app_of_one_name_never_collide
                minted_and_manual_are_independent scopes_are_independent source_and_scope_round_trip
                expiry_round_trips an_expired_minted_record_reads_back_or_is_gone token_bytes_round_trip
                longest_names many_scopes lock_scope_is_granted failure_notes_read_back_when_kept);
        }
    };
    (@each $make:expr; $($check:ident)*) => {
        $(
            #[tokio::test]
            async fn $check() {
                let store = ($make)().await;
                $crate::testing::conformance_each::$check(&store).await;
            }
        )*
    };
}
