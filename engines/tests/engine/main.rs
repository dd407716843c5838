//! Engine integration tests, one binary.
//!
//! - `parity`: outputs on the micro checkpoints against Hugging Face transformers' reference.
//! - `bad_input`: malformed checkpoints and requests give clear errors, never panics.
//! - `bench`: the benchmark report functions.
//! - `candle_check`: candle-transformers' own Llama as a second opinion.

mod bad_input;
mod bench;
mod candle_check;
mod parity;
mod util;
