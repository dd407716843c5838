//! Per-thread activation accounting: the model code reports the bytes of the tensors alive at
//! its largest points (attention scores and probabilities, the MLP intermediate, gathered
//! logits), and the running rank reads the peak after each forward pass.
//!
//! Each tensor-parallel rank runs on its own thread, so a thread-local maximum is a per-rank
//! figure. The values are counted from the shapes and dtypes of the tensors as they run, not
//! from a formula; they exclude allocator slack and temporary buffers inside kernels.

use std::cell::Cell;

use candle_core::Tensor;

thread_local! {
    static PEAK: Cell<u64> = const { Cell::new(0) };
}

/// Bytes of `t`'s elements.
pub fn bytes(t: &Tensor) -> u64 {
    (t.elem_count() * t.dtype().size_in_bytes()) as u64
}

/// Records that `live` bytes of activations are held at this point.
pub fn note(live: u64) {
    PEAK.with(|p| p.set(p.get().max(live)));
}

/// The largest value noted on this thread since the last call, and a reset.
pub fn take_peak() -> u64 {
    PEAK.with(|p| p.replace(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_is_the_maximum_and_resets() {
        take_peak();
        note(10);
        note(30);
        note(20);
        assert_eq!(take_peak(), 30);
        assert_eq!(take_peak(), 0);
        let t = Tensor::zeros((2, 3), candle_core::DType::F32, &candle_core::Device::Cpu);
        assert_eq!(t.map(|t| bytes(&t)).ok(), Some(24));
    }
}
