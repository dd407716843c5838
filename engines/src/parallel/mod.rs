//! Tensor-parallel building blocks: a communicator and column/row-parallel linear layers.
//!
//! Model code is written once on these layers. With a single-rank communicator (world size 1)
//! every shard is the whole tensor and the all-reduce is the identity; a multi-rank
//! communicator only has to implement [`Comm`]. Shard arithmetic is general: rank `r` of `ws`
//! owns rows `[r*n/ws, (r+1)*n/ws)`.

use std::sync::Arc;

use candle_core::{Module, Result as CResult, Tensor};

use crate::api::EngineError;
use crate::checkpoint::Weights;

/// A group of ranks that jointly hold one model.
pub trait Comm: Send + Sync + std::fmt::Debug {
    fn rank(&self) -> usize;
    fn world_size(&self) -> usize;
    /// Sums `t` over all ranks; every rank receives the sum.
    fn all_reduce_sum(&self, t: &Tensor) -> CResult<Tensor>;
}

/// The communicator of a model that lives on one device.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleRank;

impl Comm for SingleRank {
    fn rank(&self) -> usize {
        0
    }
    fn world_size(&self) -> usize {
        1
    }
    fn all_reduce_sum(&self, t: &Tensor) -> CResult<Tensor> {
        Ok(t.clone())
    }
}

/// The half-open range `[start, end)` of `n` items owned by `rank` out of `world_size`.
pub fn shard_range(n: usize, rank: usize, world_size: usize) -> (usize, usize) {
    (rank * n / world_size, (rank + 1) * n / world_size)
}

/// Checks that `n` (heads, features) splits evenly over the ranks.
pub fn check_divisible(
    w: &Weights,
    what: &str,
    n: usize,
    world_size: usize,
) -> Result<(), EngineError> {
    if n % world_size != 0 {
        return Err(EngineError::Weights {
            path: w.dir.clone(),
            architecture: w.architecture.clone(),
            tensor: what.to_string(),
            reason: format!("{n} does not split over {world_size} ranks"),
        });
    }
    Ok(())
}

#[derive(Debug, Clone)]
struct Linear {
    /// `[out, in]`
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    fn forward_no_bias(&self, x: &Tensor) -> CResult<Tensor> {
        let w = self.weight.t()?;
        match x.dims() {
            [b, t, _] => x.reshape((b * t, ()))?.matmul(&w)?.reshape((*b, *t, ())),
            _ => x.matmul(&w),
        }
    }
}

fn add_bias(x: Tensor, bias: &Option<Tensor>) -> CResult<Tensor> {
    match bias {
        Some(b) => x.broadcast_add(b),
        None => Ok(x),
    }
}

/// `y = x W^T + b` with the full weight on every rank.
#[derive(Debug, Clone)]
pub struct ReplicatedLinear(Linear);

impl ReplicatedLinear {
    pub fn load(
        w: &Weights,
        prefix: &str,
        in_f: usize,
        out_f: usize,
        bias: bool,
    ) -> Result<Self, EngineError> {
        let weight = w.get(&format!("{prefix}.weight"), &[out_f, in_f])?;
        let bias = if bias {
            Some(w.get(&format!("{prefix}.bias"), &[out_f])?)
        } else {
            None
        };
        Ok(ReplicatedLinear(Linear { weight, bias }))
    }

    pub fn from_weight(weight: Tensor, bias: Option<Tensor>) -> Self {
        ReplicatedLinear(Linear { weight, bias })
    }
}

impl Module for ReplicatedLinear {
    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        add_bias(self.0.forward_no_bias(x)?, &self.0.bias)
    }
}

/// Output features split over ranks: rank `r` computes its slice of `y`.
#[derive(Debug, Clone)]
pub struct ColumnParallelLinear(Linear);

impl ColumnParallelLinear {
    pub fn load(
        w: &Weights,
        comm: &Arc<dyn Comm>,
        prefix: &str,
        in_f: usize,
        out_f: usize,
        bias: bool,
    ) -> Result<Self, EngineError> {
        check_divisible(w, prefix, out_f, comm.world_size())?;
        let (s, e) = shard_range(out_f, comm.rank(), comm.world_size());
        let weight = w.get_narrow(&format!("{prefix}.weight"), &[out_f, in_f], 0, s, e - s)?;
        let bias = if bias {
            Some(w.get_narrow(&format!("{prefix}.bias"), &[out_f], 0, s, e - s)?)
        } else {
            None
        };
        Ok(ColumnParallelLinear(Linear { weight, bias }))
    }
}

impl Module for ColumnParallelLinear {
    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        add_bias(self.0.forward_no_bias(x)?, &self.0.bias)
    }
}

/// Input features split over ranks: partial products are summed with an all-reduce, then the
/// bias is added once.
#[derive(Debug, Clone)]
pub struct RowParallelLinear {
    inner: Linear,
    comm: Arc<dyn Comm>,
}

impl RowParallelLinear {
    pub fn load(
        w: &Weights,
        comm: &Arc<dyn Comm>,
        prefix: &str,
        in_f: usize,
        out_f: usize,
        bias: bool,
    ) -> Result<Self, EngineError> {
        check_divisible(w, prefix, in_f, comm.world_size())?;
        let (s, e) = shard_range(in_f, comm.rank(), comm.world_size());
        let weight = w.get_narrow(&format!("{prefix}.weight"), &[out_f, in_f], 1, s, e - s)?;
        let bias = if bias {
            Some(w.get(&format!("{prefix}.bias"), &[out_f])?)
        } else {
            None
        };
        Ok(RowParallelLinear {
            inner: Linear { weight, bias },
            comm: comm.clone(),
        })
    }
}

impl Module for RowParallelLinear {
    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        let partial = self.inner.forward_no_bias(x)?;
        let summed = if self.comm.world_size() > 1 {
            self.comm.all_reduce_sum(&partial)?
        } else {
            partial
        };
        add_bias(summed, &self.inner.bias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_range_without_overlap() {
        for n in [7usize, 64, 100] {
            for ws in 1..=4usize {
                let mut next = 0;
                for r in 0..ws {
                    let (s, e) = shard_range(n, r, ws);
                    assert_eq!(s, next);
                    next = e;
                }
                assert_eq!(next, n);
            }
        }
    }

    #[test]
    fn single_rank_all_reduce_is_identity() -> CResult<()> {
        let t = Tensor::new(&[1f32, 2., 3.], &candle_core::Device::Cpu)?;
        let c = SingleRank;
        assert_eq!(c.all_reduce_sum(&t)?.to_vec1::<f32>()?, vec![1., 2., 3.]);
        assert_eq!((c.rank(), c.world_size()), (0, 1));
        Ok(())
    }
}
