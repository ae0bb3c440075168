//! flowhook-engine: the parts of flowhook that act on the world.
//!
//! Invariant: the engine performs network I/O only through [`egress::Egress`] and
//! persists only through `flowhook_storage::Store`.

pub mod egress;
