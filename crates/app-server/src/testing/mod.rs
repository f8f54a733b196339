//! Test doubles and the storage conformance suite, for anyone who writes a
//! [`Storage`](crate::Storage), [`CmdFn`](crate::CmdFn) or
//! [`ConfigFileFn`](crate::ConfigFileFn). Enabled by the `testing` feature.
//! [`MemoryFleet`] stands for a store several stacks share (its scope lock
//! and invalidation broadcast), so fleet behaviour is testable in memory.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use atlas_app_server::{testing::storage_conformance, MemoryStorage};
//! storage_conformance(|| async { MemoryStorage::new() }).await;
//! # }
//! ```
//!
//! Or, to get one `#[tokio::test]` per check:
//!
//! ```ignore
//! atlas_app_server::storage_conformance_tests!(memory, || async { atlas_app_server::MemoryStorage::new() });
//! ```

mod conformance;
mod doubles;
mod fleet;

#[doc(hidden)]
pub use conformance::each as conformance_each;
pub use conformance::{storage_conformance, CHECKS};
pub use doubles::{token_with_expiry, FakeCli, FlakyStorage};
pub use fleet::{FleetMember, MemoryFleet};
