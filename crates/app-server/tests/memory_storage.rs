//! MemoryStorage passes the shared storage conformance suite.

use atlas_app_server::MemoryStorage;

atlas_app_server::storage_conformance_tests!(memory, || async { MemoryStorage::new() });

#[tokio::test]
async fn whole_suite_in_one_call() {
    atlas_app_server::testing::storage_conformance(|| async { MemoryStorage::new() }).await;
}

// The store several stacks of a test share passes it too.
atlas_app_server::storage_conformance_tests!(fleet, || async {
    atlas_app_server::testing::MemoryFleet::new().member()
});
