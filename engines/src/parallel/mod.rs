//! Tensor-parallel building blocks: a communicator and column/row-parallel linear layers.
//!
//! Model code is written once on these layers. With a single-rank communicator (world size 1)
//! every shard is the whole tensor and the all-reduce is the identity; a multi-rank
//! communicator only has to implement [`Comm`]. Shard arithmetic is general: rank `r` of `ws`
//! owns rows `[r*n/ws, (r+1)*n/ws)`.
//!
//! Transports, one per implementation of [`Comm`]:
//! - [`SingleRank`]: one device, no communication.
//! - [`threads::ThreadComm`]: ranks are threads of one process on the CPU; see [`threads`].
//! - `nccl::NcclComm` (`--features nccl`): one rank per GPU; see `nccl`.
//!
//! [`meter`] counts the activation bytes a rank holds at its peak.

pub mod meter;
#[cfg(feature = "nccl")]
pub mod nccl;
pub mod threads;

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
    /// Concatenates every rank's `t` along the last dimension, in rank order; every rank
    /// receives the whole.
    fn all_gather_last_dim(&self, t: &Tensor) -> CResult<Tensor>;
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
    fn all_gather_last_dim(&self, t: &Tensor) -> CResult<Tensor> {
        Ok(t.clone())
    }
}

/// The attention shape of a model, checked against a tensor-parallel degree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TpShape {
    pub heads: usize,
    pub kv_heads: usize,
    pub intermediate: usize,
}

/// Why a tensor-parallel degree does not fit a model; each message names the numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TpError {
    #[error("tp must be at least 1, got 0")]
    Zero,
    #[error("the model's attention head counts are unknown, so it cannot be split")]
    UnknownHeads,
    #[error("tp {tp} does not divide num_attention_heads {heads}")]
    Heads { tp: usize, heads: usize },
    #[error(
        "tp {tp} does not divide num_key_value_heads {kv_heads}, and {kv_heads} kv heads cannot \
         be replicated over {tp} ranks (tp must be a multiple of them)"
    )]
    KvHeads { tp: usize, kv_heads: usize },
    #[error("tp {tp} does not divide the FFN width (intermediate_size) {intermediate}")]
    Intermediate { tp: usize, intermediate: usize },
}

impl TpShape {
    /// Checks that `tp` divides the heads and the FFN width, and that the kv heads either
    /// split evenly or can be replicated (one per rank, as vLLM and mistral.rs do).
    pub fn check(&self, tp: usize) -> Result<(), TpError> {
        if tp == 0 {
            return Err(TpError::Zero);
        }
        if self.heads == 0 || self.kv_heads == 0 {
            return Err(TpError::UnknownHeads);
        }
        if !self.heads.is_multiple_of(tp) {
            return Err(TpError::Heads {
                tp,
                heads: self.heads,
            });
        }
        if !self.kv_heads.is_multiple_of(tp)
            && (self.kv_heads == 0 || !tp.is_multiple_of(self.kv_heads))
        {
            return Err(TpError::KvHeads {
                tp,
                kv_heads: self.kv_heads,
            });
        }
        if !self.intermediate.is_multiple_of(tp) {
            return Err(TpError::Intermediate {
                tp,
                intermediate: self.intermediate,
            });
        }
        Ok(())
    }
}

/// The kv heads `(first, count)` that `rank` holds: an even split when `world_size` divides
/// `kv_heads`, else one replicated head per rank (`world_size` a multiple of `kv_heads`): the
/// head serving that rank's query heads.
pub fn kv_head_range(kv_heads: usize, rank: usize, world_size: usize) -> (usize, usize) {
    if kv_heads.is_multiple_of(world_size) {
        let per = kv_heads / world_size;
        (rank * per, per)
    } else {
        (rank / (world_size / kv_heads).max(1), 1)
    }
}

/// Checks `shape` against the communicator's world size for the checkpoint behind `w` (errors
/// name the numbers) and returns how many kv heads this rank holds (see [`kv_head_range`]).
pub fn check_tp(w: &Weights, shape: TpShape, comm: &dyn Comm) -> Result<usize, EngineError> {
    let ws = comm.world_size();
    shape.check(ws).map_err(|e| EngineError::Weights {
        path: w.dir.clone(),
        architecture: w.architecture.clone(),
        tensor: "(tensor-parallel split)".into(),
        reason: e.to_string(),
    })?;
    Ok(kv_head_range(shape.kv_heads, comm.rank(), ws).1)
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
    if !n.is_multiple_of(world_size) {
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
        Self::load_rows(w, prefix, (in_f, out_f), (s, e - s), bias)
    }

    /// Rows `[start, start+len)` of the `[out_f, in_f]` weight (replicated kv heads, where
    /// several ranks hold the same rows).
    pub fn load_rows(
        w: &Weights,
        prefix: &str,
        (in_f, out_f): (usize, usize),
        (start, len): (usize, usize),
        bias: bool,
    ) -> Result<Self, EngineError> {
        let weight = w.get_narrow(&format!("{prefix}.weight"), &[out_f, in_f], 0, start, len)?;
        let bias = if bias {
            Some(w.get_narrow(&format!("{prefix}.bias"), &[out_f], 0, start, len)?)
        } else {
            None
        };
        Ok(ColumnParallelLinear(Linear { weight, bias }))
    }
}

/// The query, key and value projections of one attention layer on this rank, from
/// `{prefix}.{q,k,v}_proj`: query heads split over the ranks, key/value heads split or
/// replicated as [`kv_head_range`] decides.
pub fn load_qkv(
    w: &Weights,
    comm: &Arc<dyn Comm>,
    prefix: &str,
    hidden: usize,
    (heads, kv_heads, head_dim): (usize, usize, usize),
    bias: bool,
) -> Result<[ColumnParallelLinear; 3], EngineError> {
    let (kv_first, kv_count) = kv_head_range(kv_heads, comm.rank(), comm.world_size());
    let kv_rows = (kv_first * head_dim, kv_count * head_dim);
    let kv_shape = (hidden, kv_heads * head_dim);
    Ok([
        ColumnParallelLinear::load(
            w,
            comm,
            &format!("{prefix}.q_proj"),
            hidden,
            heads * head_dim,
            bias,
        )?,
        ColumnParallelLinear::load_rows(w, &format!("{prefix}.k_proj"), kv_shape, kv_rows, bias)?,
        ColumnParallelLinear::load_rows(w, &format!("{prefix}.v_proj"), kv_shape, kv_rows, bias)?,
    ])
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

/// The LM head: vocabulary-sharded (column-parallel, logits gathered over ranks) when the
/// vocabulary splits evenly and the head is not tied to the embedding; else replicated.
#[derive(Debug, Clone)]
pub enum LmHead {
    Replicated(ReplicatedLinear),
    VocabParallel {
        shard: ColumnParallelLinear,
        comm: Arc<dyn Comm>,
    },
}

impl LmHead {
    pub fn load(
        w: &Weights,
        comm: &Arc<dyn Comm>,
        prefix: &str,
        (in_f, vocab): (usize, usize),
        bias: bool,
    ) -> Result<Self, EngineError> {
        if comm.world_size() > 1 && vocab % comm.world_size() == 0 {
            Ok(LmHead::VocabParallel {
                shard: ColumnParallelLinear::load(w, comm, prefix, in_f, vocab, bias)?,
                comm: comm.clone(),
            })
        } else {
            Ok(LmHead::Replicated(ReplicatedLinear::load(
                w, prefix, in_f, vocab, bias,
            )?))
        }
    }
}

impl Module for LmHead {
    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        match self {
            LmHead::Replicated(l) => l.forward(x),
            LmHead::VocabParallel { shard, comm } => {
                let part = shard.forward(x)?;
                meter::note(2 * meter::bytes(&part) * comm.world_size() as u64);
                comm.all_gather_last_dim(&part)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tp_shape_checks_name_the_numbers() {
        let s = TpShape {
            heads: 4,
            kv_heads: 2,
            intermediate: 176,
        };
        assert_eq!(s.check(1), Ok(()));
        assert_eq!(s.check(2), Ok(()));
        assert_eq!(s.check(4), Ok(()));
        assert_eq!(s.check(3), Err(TpError::Heads { tp: 3, heads: 4 }));
        let odd = TpShape {
            heads: 12,
            kv_heads: 4,
            intermediate: 100,
        };
        assert_eq!(odd.check(6), Err(TpError::KvHeads { tp: 6, kv_heads: 4 }));
        assert_eq!(
            odd.check(8).expect_err("tp 8").to_string(),
            "tp 8 does not divide num_attention_heads 12"
        );
        let ffn = TpShape {
            heads: 8,
            kv_heads: 8,
            intermediate: 100,
        };
        assert_eq!(
            ffn.check(8),
            Err(TpError::Intermediate {
                tp: 8,
                intermediate: 100
            })
        );
        assert_eq!(s.check(0), Err(TpError::Zero));
    }

    #[test]
    fn kv_heads_split_or_replicate() {
        assert_eq!(kv_head_range(2, 0, 2), (0, 1));
        assert_eq!(kv_head_range(2, 1, 2), (1, 1));
        assert_eq!(kv_head_range(4, 1, 2), (2, 2));
        // tp 4 over 2 kv heads: ranks 0,1 share head 0; ranks 2,3 share head 1.
        let heads: Vec<usize> = (0..4).map(|r| kv_head_range(2, r, 4).0).collect();
        assert_eq!(heads, vec![0, 0, 1, 1]);
        assert_eq!(kv_head_range(1, 3, 4), (0, 1));
    }

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
