//! assay: evaluate language models across task categories on the GPUs (or CPU) at hand.
pub mod catalog;
