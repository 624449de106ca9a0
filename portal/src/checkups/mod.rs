//! The product's domain: checkup results (特定健診結果), the reference table the union
//! maintains, the bands A < B < C < D, the import format, and trend charts. Nothing here does
//! I/O except loading the reference file; nothing imports actix.

pub mod bands;
pub mod chart;
pub mod csv;
pub mod import;
pub mod reference;
pub mod value;
pub mod view;

/// The demo data set `start-dev` loads: several years for the demo member of the IdP's
/// dev realm (insurer 06139999, symbol 1234, number 56, born 1979-08-22).
pub const DEMO_RESULTS: &str = include_str!("../../data/demo-results.csv");

/// Version of 「健診結果に関する注意事項」; members accept each version once.
pub const NOTICE_VERSION: &str = "2026-11";
