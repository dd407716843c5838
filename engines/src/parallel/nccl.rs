//! The NCCL transport (`--features nccl`): one rank per GPU, each on its own thread.
//!
//! Rank 0 creates the NCCL unique id ([`unique_id`]) and hands a copy to every rank; each rank
//! thread then calls [`init_rank`] with its device's stream, which runs `ncclCommInitRank`
//! (`cudarc::nccl::Comm::from_rank`; the calls block until all ranks have joined).
//!
//! Threading model: cudarc's `Comm` wraps a raw `ncclComm_t` and is neither `Send` nor `Sync`,
//! which is right: a communicator belongs to the thread that drives its stream. So it is
//! stored in a thread-local of its rank thread, and the model holds an [`NcclComm`] handle
//! (rank and world size only, `Send + Sync` by construction) that finds the communicator there.
//! Using the handle on another thread is an error, not undefined behaviour. No type is marked
//! `Send`/`Sync` by hand.
//!
//! Without candle's `cuda` feature this module type-checks against cudarc alone (cudarc loads
//! the CUDA and NCCL libraries at run time), and the collectives work on raw `CudaSlice`s.
//! The bridge from candle CUDA tensors ([`Comm`] for [`NcclComm`]) is the small `bridge`
//! module behind `all(feature = "nccl", feature = "cuda")`; on a build without `cuda`, the
//! tensor collectives return an error that says to rebuild with it.

use std::cell::RefCell;
use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream};
use cudarc::nccl::{Comm as RawComm, Id, NcclType, ReduceOp};

use crate::api::EngineError;

thread_local! {
    static RANK_COMM: RefCell<Option<RawComm>> = const { RefCell::new(None) };
}

/// Whether the NCCL and CUDA driver libraries can be loaded on this host.
pub fn libraries_present() -> bool {
    // SAFETY: these only try to dlopen the libraries and report whether that worked.
    unsafe { cudarc::driver::sys::is_culib_present() && cudarc::nccl::sys::is_culib_present() }
}

fn missing() -> EngineError {
    EngineError::Device(
        "NCCL tensor parallelism needs the CUDA driver (libcuda) and NCCL (libnccl) \
         libraries, which cannot be loaded on this host"
            .into(),
    )
}

/// Creates the NCCL unique id (rank 0 does this once and hands copies to the other ranks).
pub fn unique_id() -> Result<Id, EngineError> {
    if !libraries_present() {
        return Err(missing());
    }
    Id::new().map_err(|e| EngineError::Device(format!("ncclGetUniqueId failed: {e:?}")))
}

/// A rank's handle on the communicator stored in its thread (see the module header).
#[derive(Debug, Clone, Copy)]
pub struct NcclComm {
    rank: usize,
    world_size: usize,
}

/// Joins the group as `rank` of `world_size` on `stream` (call on the rank's own thread).
pub fn init_rank(
    stream: Arc<CudaStream>,
    rank: usize,
    world_size: usize,
    id: Id,
) -> Result<NcclComm, EngineError> {
    if !libraries_present() {
        return Err(missing());
    }
    let comm = RawComm::from_rank(stream, rank, world_size, id).map_err(|e| {
        EngineError::Device(format!(
            "ncclCommInitRank (rank {rank} of {world_size}) failed: {e:?}"
        ))
    })?;
    RANK_COMM.with(|c| *c.borrow_mut() = Some(comm));
    Ok(NcclComm { rank, world_size })
}

impl NcclComm {
    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn world_size(&self) -> usize {
        self.world_size
    }

    fn with<R>(&self, f: impl FnOnce(&RawComm) -> Result<R, String>) -> Result<R, String> {
        RANK_COMM.with(|c| match c.borrow().as_ref() {
            Some(comm) if comm.rank() == self.rank => f(comm),
            _ => Err(format!(
                "NCCL rank {} used on a thread that does not own its communicator",
                self.rank
            )),
        })
    }

    /// Sums `buf` over all ranks, in place, on the rank's stream.
    pub fn all_reduce_sum_in_place<T: NcclType>(
        &self,
        buf: &mut CudaSlice<T>,
    ) -> Result<(), String> {
        self.with(|c| {
            c.all_reduce_in_place(buf, &ReduceOp::Sum)
                .map(|_| ())
                .map_err(|e| format!("ncclAllReduce: {e:?}"))
        })
    }

    /// Gathers every rank's `send` into `recv` (`world_size × send.len()`, rank-major).
    pub fn all_gather<T: NcclType>(
        &self,
        send: &CudaSlice<T>,
        recv: &mut CudaSlice<T>,
    ) -> Result<(), String> {
        self.with(|c| {
            c.all_gather(send, recv)
                .map(|_| ())
                .map_err(|e| format!("ncclAllGather: {e:?}"))
        })
    }
}

/// Drops the calling rank thread's communicator (`ncclCommAbort`), if it has one.
pub fn shutdown_thread() {
    RANK_COMM.with(|c| c.borrow_mut().take());
}

#[cfg(not(feature = "cuda"))]
impl super::Comm for NcclComm {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world_size(&self) -> usize {
        self.world_size
    }
    fn all_reduce_sum(&self, _t: &candle_core::Tensor) -> candle_core::Result<candle_core::Tensor> {
        Err(candle_core::Error::Msg(
            "NCCL collectives on tensors need CUDA tensors: rebuild with --features nccl,cuda"
                .into(),
        ))
    }
    fn all_gather_last_dim(
        &self,
        t: &candle_core::Tensor,
    ) -> candle_core::Result<candle_core::Tensor> {
        self.all_reduce_sum(t)
    }
}

#[cfg(feature = "cuda")]
mod bridge {
    //! candle CUDA tensors to cudarc slices: a `CustomOp1` per collective that copies the
    //! rank's contiguous f32/bf16/f16 buffer and runs the NCCL call on the copy.

    use candle_core::backend::BackendStorage;
    use candle_core::{CpuStorage, CudaStorage, CustomOp1, D, Layout, Result, Shape, Tensor};

    use super::NcclComm;

    struct AllReduce(NcclComm);

    fn contiguous(l: &Layout) -> Result<usize> {
        match l.contiguous_offsets() {
            Some((0, n)) => Ok(n),
            _ => candle_core::bail!("NCCL all-reduce needs a contiguous tensor at offset 0"),
        }
    }

    impl CustomOp1 for AllReduce {
        fn name(&self) -> &'static str {
            "nccl-all-reduce"
        }

        fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> Result<(CpuStorage, Shape)> {
            candle_core::bail!("NCCL all-reduce on a CPU tensor")
        }

        fn cuda_fwd(&self, s: &CudaStorage, l: &Layout) -> Result<(CudaStorage, Shape)> {
            let n = contiguous(l)?;
            let dev = s.device().clone();
            macro_rules! reduce {
                ($t:ty) => {{
                    let src = s.as_cuda_slice::<$t>()?;
                    let mut dst = dev.alloc_zeros::<$t>(n)?;
                    dev.memcpy_dtod(src, &mut dst)?;
                    self.0
                        .all_reduce_sum_in_place(&mut dst)
                        .map_err(candle_core::Error::Msg)?;
                    CudaStorage::wrap_cuda_slice(dst, dev)
                }};
            }
            let out = match s.dtype() {
                candle_core::DType::F32 => reduce!(f32),
                candle_core::DType::BF16 => reduce!(half::bf16),
                candle_core::DType::F16 => reduce!(half::f16),
                other => candle_core::bail!("NCCL all-reduce: unsupported dtype {other:?}"),
            };
            Ok((out, l.shape().clone()))
        }
    }

    impl crate::parallel::Comm for NcclComm {
        fn rank(&self) -> usize {
            self.rank
        }
        fn world_size(&self) -> usize {
            self.world_size
        }
        fn all_reduce_sum(&self, t: &Tensor) -> Result<Tensor> {
            t.contiguous()?.apply_op1_no_bwd(&AllReduce(*self))
        }
        /// All-gather built from an all-reduce of zero-padded slices (the logits gather is
        /// once per scored batch, not per layer).
        fn all_gather_last_dim(&self, t: &Tensor) -> Result<Tensor> {
            let width = t.dim(D::Minus1)?;
            let total = width * self.world_size;
            let left = width * self.rank;
            let padded = t.pad_with_zeros(D::Minus1, left, total - left - width)?;
            self.all_reduce_sum(&padded)
        }
    }
}
