//! The supervisor libraries the supervisor bench compares, each as a
//! [`Contender`](crate::restart::Contender) (one permanent child that
//! crashes when told) and [`IdleKind`](crate::restart::IdleKind)s (idle
//! children under a dynamic supervisor). kameo and ractor are what a Rust
//! user would pick instead of atlas-supervisor; they are dependencies of
//! this bench crate only.

pub mod atlas;
pub mod kameo;
pub mod ractor;
