//! The storage conformance suite: the contract of SPEC.md §6 as checks that
//! any [`Storage`] must pass.

use std::future::Future;

use crate::{AppName, Storage, StorageKey, Token, TokenRecord};

fn app(name: &str) -> AppName {
    AppName::new(name).expect("valid test app name")
}

fn rec(token: &str, expires_at: Option<i64>) -> TokenRecord {
    TokenRecord {
        token: Token::new(token),
        expires_at,
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
        let a = app("absent");
        assert_eq!(s.get(&a, StorageKey::Cached).await.expect("get"), None, "absent cached record");
        assert_eq!(s.get(&a, StorageKey::Manual).await.expect("get"), None, "absent manual record");
    }
    put_then_get: |s| {
        let a = app("put-get");
        let r = rec("FlyV1 fm2_aaaa", Some(1_900_000_000));
        s.put(&a, StorageKey::Cached, r.clone()).await.expect("put");
        assert_eq!(s.get(&a, StorageKey::Cached).await.expect("get"), Some(r), "record read back");
    }
    put_overwrites: |s| {
        let a = app("overwrite");
        s.put(&a, StorageKey::Cached, rec("first", Some(10))).await.expect("put");
        s.put(&a, StorageKey::Cached, rec("second", Some(20))).await.expect("put");
        assert_eq!(s.get(&a, StorageKey::Cached).await.expect("get"), Some(rec("second", Some(20))), "put overwrites");
    }
    delete_removes: |s| {
        let a = app("delete");
        s.put(&a, StorageKey::Cached, rec("tok", Some(10))).await.expect("put");
        s.delete(&a, StorageKey::Cached).await.expect("delete");
        assert_eq!(s.get(&a, StorageKey::Cached).await.expect("get"), None, "deleted record is gone");
    }
    delete_absent_is_ok: |s| {
        let a = app("never-stored");
        s.delete(&a, StorageKey::Cached).await.expect("delete of an absent cached record is Ok");
        s.delete(&a, StorageKey::Manual).await.expect("delete of an absent manual record is Ok");
    }
    keys_are_independent: |s| {
        let a = app("two-keys");
        let cached = rec("cached-tok", Some(100));
        let manual = rec("manual-tok", None);
        s.put(&a, StorageKey::Cached, cached.clone()).await.expect("put");
        s.put(&a, StorageKey::Manual, manual.clone()).await.expect("put");
        assert_eq!(s.get(&a, StorageKey::Cached).await.expect("get"), Some(cached.clone()));
        assert_eq!(s.get(&a, StorageKey::Manual).await.expect("get"), Some(manual.clone()));
        s.delete(&a, StorageKey::Cached).await.expect("delete");
        assert_eq!(s.get(&a, StorageKey::Manual).await.expect("get"), Some(manual), "manual survives deleting cached");
        s.put(&a, StorageKey::Cached, cached.clone()).await.expect("put");
        s.delete(&a, StorageKey::Manual).await.expect("delete");
        assert_eq!(s.get(&a, StorageKey::Cached).await.expect("get"), Some(cached), "cached survives deleting manual");
    }
    apps_are_independent: |s| {
        let (a, b) = (app("app-a"), app("app-b"));
        s.put(&a, StorageKey::Cached, rec("tok-a", Some(1))).await.expect("put");
        assert_eq!(s.get(&b, StorageKey::Cached).await.expect("get"), None, "another app's record is not visible");
        s.put(&b, StorageKey::Cached, rec("tok-b", Some(2))).await.expect("put");
        s.delete(&a, StorageKey::Cached).await.expect("delete");
        assert_eq!(s.get(&b, StorageKey::Cached).await.expect("get"), Some(rec("tok-b", Some(2))));
    }
    expiry_round_trips: |s| {
        let a = app("expiry");
        for exp in [None, Some(0), Some(-5), Some(i64::MAX), Some(1_700_000_000)] {
            s.put(&a, StorageKey::Manual, rec("tok", exp)).await.expect("put");
            assert_eq!(s.get(&a, StorageKey::Manual).await.expect("get").map(|r| r.expires_at), Some(exp));
        }
    }
    token_bytes_round_trip: |s| {
        let a = app("bytes");
        // Multi-part macaroon with commas, a scheme, base64 padding and a long tail.
        let long = format!("FlyV1 fm2_{}==,fm2_{}/+=", "A".repeat(2000), "b".repeat(1500));
        s.put(&a, StorageKey::Cached, rec(&long, Some(5))).await.expect("put");
        let got = s.get(&a, StorageKey::Cached).await.expect("get").expect("present");
        assert_eq!(got.token.expose(), long, "token bytes preserved exactly");
    }
    longest_app_name: |s| {
        let a = app(&"x".repeat(63));
        s.put(&a, StorageKey::Cached, rec("tok", Some(5))).await.expect("put");
        assert!(s.get(&a, StorageKey::Cached).await.expect("get").is_some());
    }
    many_apps: |s| {
        for i in 0..50 {
            let a = app(&format!("many-{i}"));
            s.put(&a, StorageKey::Cached, rec(&format!("tok-{i}"), Some(i))).await.expect("put");
        }
        for i in 0..50 {
            let a = app(&format!("many-{i}"));
            let got = s.get(&a, StorageKey::Cached).await.expect("get").expect("present");
            assert_eq!(got.token.expose(), format!("tok-{i}"));
        }
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
                keys_are_independent apps_are_independent expiry_round_trips token_bytes_round_trip
                longest_app_name many_apps);
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
