//! assay: evaluate language models across task categories on the GPUs (or CPU) at hand.
//!
//! The binary (`src/main.rs`) only parses flags and maps errors to exit codes; everything else
//! lives here so tests can call it.
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod error;
pub mod hardware;
pub mod history;
pub mod hub;
pub mod metrics;
pub mod plan;
pub mod printer;
pub mod route;
pub mod run;
pub mod sandbox;
pub mod schedule;
pub mod serve;
pub mod sizing;
pub mod store;
pub mod suggest;
pub mod synthetic;
pub mod tasks;
pub mod telemetry;
