//! Password hashing on its own bounded pool, brute-force counters, and the master key.

pub mod brute_force;
pub mod hasher;
pub mod master_key;
