//! The TTL rule: an entry is served only while `expires_at > now`.

use std::sync::Arc;

use atlas_cache::{Expiring, Table};
use proptest::prelude::*;

type Tokens = Table<String, Expiring<Arc<str>>>;

fn live_table() -> (
    Tokens,
    atlas_cache::Ownership<String, Expiring<Arc<str>>, atlas_cache::DefaultHashBuilder>,
) {
    let table = Tokens::new();
    let owner = table.owner().claim();
    (table, owner)
}

#[test]
fn the_boundary_second_is_a_miss() {
    let (table, _owner) = live_table();
    let now = 1_700_000_000;
    table.insert_expiring("at-now".into(), "t0".into(), now).expect("live");
    table
        .insert_expiring("next-second".into(), "t1".into(), now + 1)
        .expect("live");
    table
        .insert_expiring("last-second".into(), "t2".into(), now - 1)
        .expect("live");

    assert_eq!(table.lookup("at-now", now), None, "expires_at == now is a miss");
    assert_eq!(table.lookup("next-second", now).as_deref(), Some("t1"));
    assert_eq!(table.lookup("last-second", now), None);

    // The same through the borrowed paths.
    assert_eq!(table.lookup_with("at-now", now, |t| t.len()), None);
    assert_eq!(table.lookup_with("next-second", now, |t| t.len()), Some(2));
    assert_eq!(table.lookup_with("last-second", now, |t| t.len()), None);
    let guard = table.guard();
    assert_eq!(guard.lookup("at-now", now), None);
    assert_eq!(guard.lookup("next-second", now).map(|t| &**t), Some("t1"));
    assert_eq!(guard.lookup("last-second", now), None);

    // An expired entry is still stored (a miss, not gone) until purged.
    assert!(table.contains_key("at-now"));
    table.purge_expired(now).expect("live");
    let mut left: Vec<String> = table.to_vec().into_iter().map(|(k, _)| k).collect();
    left.sort();
    assert_eq!(left, ["next-second"]);
}

#[test]
fn time_moving_on_expires_an_entry() {
    let (table, _owner) = live_table();
    let t0 = 1_000;
    table.insert_expiring("app".into(), "tok".into(), t0 + 3).expect("live");
    let served: Vec<bool> = (t0..t0 + 5).map(|now| table.lookup("app", now).is_some()).collect();
    assert_eq!(served, [true, true, true, false, false]);
}

#[test]
fn debug_of_an_entry_hides_the_value() {
    let e = Expiring::new("FlyV1 secret", 42);
    assert_eq!(format!("{e:?}"), "Expiring { expires_at: 42, .. }");
    assert!(e.is_fresh_at(41) && !e.is_fresh_at(42));
}

proptest! {
    #[test]
    fn served_iff_expires_after_now(expires_at in -5i64..5, now in -5i64..5) {
        let (table, _owner) = live_table();
        table.insert_expiring("app".into(), "tok".into(), expires_at).expect("live");
        prop_assert_eq!(table.lookup("app", now).is_some(), expires_at > now);
        prop_assert_eq!(table.lookup_with("app", now, |_| ()).is_some(), expires_at > now);
    }
}
