//! sipterm: a terminal SIP softphone. The library holds the engine and both front-ends so that
//! integration tests and benchmarks drive exactly what the binary runs.

pub mod bridge;
pub mod cli;
pub mod config;
pub mod engine;
pub mod frontend;
pub mod headless;
pub mod media;
pub mod profile;
pub mod report;
pub mod scenario;
pub mod sip;
pub mod suite;
pub mod ui;
pub mod vocab;
