//! The catalog: models, categories and datasets, parsed once into checked types.
pub mod raw;
pub mod types;
pub use types::*;
