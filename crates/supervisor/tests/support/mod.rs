//! What several tests ask of a supervisor; the rest is in
//! `atlas_supervisor::testing`.
// Each test file uses part of it.
#![allow(dead_code)]

/// The ids of the supervisor's children, running or not, in start order.
pub async fn ids(sup: &atlas_supervisor::SupervisorRef) -> Vec<String> {
    sup.which_children()
        .await
        .expect("alive")
        .iter()
        .map(|c| c.id.to_string())
        .collect()
}

/// The running incarnation of the supervisor's child `id`.
pub async fn running(sup: &atlas_supervisor::SupervisorRef, id: &str) -> atlas_supervisor::ChildRef {
    let child = sup.child(id).await.expect("alive, with that child");
    child.child_ref().cloned().expect("the child runs")
}
