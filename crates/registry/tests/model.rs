//! Register, drop guards, unregister and look up in any order: the registry
//! agrees with a plain `HashMap` model at every step.

use std::collections::HashMap;

use atlas_registry::{Registration, Registry};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Register key with a fresh handle.
    Register(u8),
    /// Drop the i-th guard still held (if any).
    DropGuard(usize),
    /// Explicit unregister.
    Unregister(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..4).prop_map(Op::Register),
        (0usize..8).prop_map(Op::DropGuard),
        (0u8..4).prop_map(Op::Unregister),
    ]
}

proptest! {
    #[test]
    fn the_registry_matches_a_hashmap_model(ops in proptest::collection::vec(op(), 1..60), shards in 1usize..5) {
        let registry: Registry<u8, u32> = Registry::builder().shards(shards).build();
        // key -> (handle, id of the guard that holds it)
        let mut model: HashMap<u8, (u32, u64)> = HashMap::new();
        let mut guards: Vec<(u8, Registration<u8, u32>)> = Vec::new();
        for (n, op) in ops.into_iter().enumerate() {
            let n = n as u32;
            match op {
                Op::Register(k) => match registry.register(k, n) {
                    Ok(g) => {
                        prop_assert!(!model.contains_key(&k));
                        model.insert(k, (n, g.id()));
                        guards.push((k, g));
                    }
                    Err(e) => prop_assert_eq!(Some(*e.existing()), model.get(&k).map(|m| m.0)),
                },
                Op::DropGuard(i) => {
                    if i < guards.len() {
                        let (k, g) = guards.remove(i);
                        if model.get(&k).is_some_and(|m| m.1 == g.id()) {
                            model.remove(&k);
                        }
                        drop(g);
                    }
                }
                Op::Unregister(k) => {
                    prop_assert_eq!(registry.unregister(&k), model.remove(&k).map(|m| m.0));
                }
            }
            for k in 0u8..4 {
                prop_assert_eq!(registry.lookup(&k), model.get(&k).map(|m| m.0));
            }
            prop_assert_eq!(registry.len(), model.len());
            for (k, g) in &guards {
                prop_assert_eq!(g.is_registered(), model.get(k).is_some_and(|m| m.1 == g.id()));
            }
            let mut keys = registry.keys();
            keys.sort_unstable();
            let mut want: Vec<u8> = model.keys().copied().collect();
            want.sort_unstable();
            prop_assert_eq!(keys, want);
        }
    }
}
