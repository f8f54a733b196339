//! Table operations against a `HashMap` model, across owner stops and
//! restarts (proptest).

use std::collections::HashMap;

use atlas_cache::{NoTable, Ownership, Table};
use proptest::prelude::*;

type T = Table<u8, u32>;

#[derive(Clone, Debug)]
enum Op {
    Insert(u8, u32),
    Remove(u8),
    Get(u8),
    Len,
    Iterate,
    Clear,
    /// Keep the entries whose value is divisible by this.
    Retain(u32),
    /// Write through a handle bound to the incarnation of the last start.
    BoundInsert(u8, u32),
    /// The owner stops (the model has no table).
    Stop,
    /// An owner starts (taking over if one runs): a new, empty table.
    Start,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..16;
    prop_oneof![
        6 => (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        3 => key.clone().prop_map(Op::Remove),
        4 => key.clone().prop_map(Op::Get),
        1 => Just(Op::Len),
        1 => Just(Op::Iterate),
        1 => Just(Op::Clear),
        1 => (1u32..4).prop_map(Op::Retain),
        2 => (key, any::<u32>()).prop_map(|(k, v)| Op::BoundInsert(k, v)),
        1 => Just(Op::Stop),
        1 => Just(Op::Start),
    ]
}

struct World {
    table: T,
    owner: Option<Ownership<u8, u32, atlas_cache::DefaultHashBuilder>>,
    /// Bound to the incarnation of the last start, live or not.
    bound: Option<T>,
    model: Option<HashMap<u8, u32>>,
    starts: u64,
}

impl World {
    fn new() -> Self {
        Self {
            table: Table::new(),
            owner: None,
            bound: None,
            model: None,
            starts: 0,
        }
    }

    fn start(&mut self) {
        let owner = self.table.owner().claim();
        self.starts += 1;
        assert_eq!(owner.incarnation(), self.starts);
        // Ending the previous ownership after the takeover must not end the new one.
        drop(self.owner.replace(owner));
        self.bound = Some(self.table.bind_current().expect("just started"));
        self.model = Some(HashMap::new());
    }

    fn apply(&mut self, op: &Op) {
        let t = &self.table;
        match (op, self.model.as_mut()) {
            (Op::Insert(k, v), Some(m)) => {
                assert_eq!(t.insert(*k, *v), Ok(()));
                m.insert(*k, *v);
            }
            (Op::Remove(k), Some(m)) => assert_eq!(t.remove(k), Ok(m.remove(k).is_some())),
            (Op::Clear, Some(m)) => {
                assert_eq!(t.clear(), Ok(()));
                m.clear();
            }
            (Op::Retain(d), Some(m)) => {
                assert_eq!(t.retain(|_, v| v % d == 0), Ok(()));
                m.retain(|_, v| *v % d == 0);
            }
            (Op::BoundInsert(k, v), Some(m)) => {
                let bound = self.bound.as_ref().expect("a start came before");
                assert_eq!(bound.insert(*k, *v), Ok(()));
                m.insert(*k, *v);
            }
            (Op::Insert(k, v), None) => assert_eq!(t.insert(*k, *v), Err(NoTable)),
            (Op::Remove(k), None) => assert_eq!(t.remove(k), Err(NoTable)),
            (Op::Clear, None) => assert_eq!(t.clear(), Err(NoTable)),
            (Op::Retain(_), None) => assert_eq!(t.retain(|_, _| true), Err(NoTable)),
            (Op::BoundInsert(k, v), None) => {
                if let Some(bound) = &self.bound {
                    assert_eq!(bound.insert(*k, *v), Err(NoTable));
                }
            }
            (Op::Get(_) | Op::Len | Op::Iterate, _) => {}
            (Op::Stop, _) => {
                self.owner = None;
                self.model = None;
            }
            (Op::Start, _) => self.start(),
        }
        if let Op::Get(k) = op {
            self.check_get(*k);
        }
        if matches!(op, Op::Len | Op::Iterate) {
            self.check_all();
        }
    }

    fn check_get(&self, k: u8) {
        let want = self.model.as_ref().and_then(|m| m.get(&k).copied());
        assert_eq!(self.table.get(&k), want);
        assert_eq!(self.table.get_with(&k, |v| *v), want);
        assert_eq!(self.table.guard().get(&k).copied(), want);
        assert_eq!(self.table.contains_key(&k), want.is_some());
        if let Some(bound) = &self.bound {
            assert_eq!(bound.get(&k), want, "the last start's bound handle is the live one");
        }
    }

    fn check_all(&self) {
        let mut want: Vec<(u8, u32)> = self.model.iter().flatten().map(|(k, v)| (*k, *v)).collect();
        want.sort_unstable();
        let mut seen: Vec<(u8, u32)> = self.table.guard().iter().map(|(k, v)| (*k, *v)).collect();
        seen.sort_unstable();
        assert_eq!(seen, want);
        let mut copied = self.table.to_vec();
        copied.sort_unstable();
        assert_eq!(copied, want);
        assert_eq!(self.table.len(), want.len());
        assert_eq!(self.table.is_empty(), want.is_empty());
        assert_eq!(self.table.is_live(), self.model.is_some());
        let incarnation = self.model.as_ref().map(|_| self.starts);
        assert_eq!(self.table.incarnation(), incarnation);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn table_behaves_like_a_hashmap_per_incarnation(ops in proptest::collection::vec(op(), 1..120)) {
        let mut world = World::new();
        world.start();
        for op in &ops {
            world.apply(op);
            world.check_all();
        }
    }
}

#[test]
fn a_handle_bound_to_an_ended_incarnation_never_sees_the_next() {
    let table: T = Table::new();
    let owner = table.owner();
    let first = owner.claim();
    let bound = table.bind_current().expect("live");
    bound.insert(1, 10).expect("live");
    drop(first);
    assert_eq!(bound.get(&1), None);
    let _second = owner.claim();
    table.insert(1, 20).expect("live");
    assert_eq!(bound.get(&1), None, "bound to incarnation 1, which ended");
    assert_eq!(bound.insert(2, 30), Err(NoTable));
    assert_eq!(bound.remove(&1), Err(NoTable));
    assert_eq!(bound.incarnation(), None);
    assert_eq!(table.get(&2), None);
    assert_eq!(table.get(&1), Some(20));
    assert_eq!(table.len(), 1);
}

#[test]
fn no_owner_yet_means_no_table() {
    let table: T = Table::default();
    assert_eq!(table.get(&1), None);
    assert_eq!(table.insert(1, 1), Err(NoTable));
    assert_eq!(table.bind_current().err(), Some(NoTable));
    assert_eq!(table.incarnation(), None);
    assert_eq!(table.guard().iter().count(), 0);
    assert_eq!(table.guard().incarnation(), None);
}

#[test]
fn a_guard_misses_once_its_incarnation_ends() {
    let table: T = Table::new();
    let owner = table.owner().claim();
    table.insert(7, 70).expect("live");
    let guard = table.guard();
    assert_eq!(guard.get(&7), Some(&70));
    drop(owner);
    assert_eq!(guard.get(&7), None);
    assert_eq!(guard.iter().count(), 0);
}

#[test]
fn debug_shows_no_keys_or_values() {
    let table: Table<String, String> = Table::new();
    let _owner = table.owner().claim();
    table.insert("app".into(), "secret-token".into()).expect("live");
    let shown = format!("{table:?} {:?} {:?}", table.owner(), table.guard());
    assert!(!shown.contains("secret") && !shown.contains("app\""), "{shown}");
    assert!(shown.contains("incarnation: Some(1)"), "{shown}");
}
