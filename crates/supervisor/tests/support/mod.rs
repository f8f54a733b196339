//! What several tests ask of a supervisor; the rest is in
//! `atlas_supervisor::testing`.

/// The ids of the supervisor's children, running or not, in start order.
pub async fn ids(sup: &atlas_supervisor::SupervisorRef) -> Vec<String> {
    sup.which_children()
        .await
        .expect("alive")
        .iter()
        .map(|c| c.id.to_string())
        .collect()
}
