//! The in-process CPU transport: ranks are threads of one process, each owning its shard.
//!
//! Threading model: every rank thread holds an `Arc<ThreadComm>` (its rank number plus a handle
//! on the shared [`ThreadGroup`]). A collective is a rendezvous under one `Mutex` + `Condvar`:
//! each rank deposits its tensor in its own slot; the last rank to arrive combines the slots in
//! rank order (sum for all-reduce, concatenation for all-gather), publishes the result and
//! wakes the others, who take a handle on the same (immutable) result tensor. Combining in rank
//! order makes results independent of thread timing, so repeated runs are bit-identical.
//!
//! Nothing here needs `unsafe`: candle CPU tensors are `Send + Sync` (shared storage behind an
//! `Arc`), so a slot can hand a rank's tensor to the combining thread without copying it.
//!
//! Failure: a rank whose work fails calls [`ThreadGroup::abort`], so ranks waiting in (or later
//! entering) a collective return an error instead of blocking forever; the engine calls
//! [`ThreadGroup::reset`] once every rank has answered.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use candle_core::{D, Result as CResult, Tensor};

use super::Comm;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Sum,
    GatherLast,
}

#[derive(Debug, Default)]
struct Round {
    generation: u64,
    op: Option<Op>,
    slots: Vec<Option<Tensor>>,
    arrived: usize,
    result: Option<Result<Tensor, String>>,
    aborted: bool,
}

/// The rendezvous shared by the ranks of one model.
#[derive(Debug)]
pub struct ThreadGroup {
    world_size: usize,
    round: Mutex<Round>,
    cv: Condvar,
}

/// Time and volume one rank spent in collectives.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommStats {
    pub calls: u64,
    /// Bytes this rank contributed.
    pub bytes: u64,
    /// Wall time inside collectives: waiting for the slowest rank plus combining.
    pub seconds: f64,
    /// Of which this rank spent combining (summing or concatenating) for the group.
    pub combine_seconds: f64,
}

/// One rank's end of a [`ThreadGroup`].
#[derive(Debug)]
pub struct ThreadComm {
    rank: usize,
    group: Arc<ThreadGroup>,
    stats: Mutex<CommStats>,
}

fn err(msg: impl Into<String>) -> candle_core::Error {
    candle_core::Error::Msg(msg.into())
}

impl ThreadGroup {
    /// A group of `world_size` ranks and one communicator per rank, in rank order.
    pub fn new(world_size: usize) -> (Arc<ThreadGroup>, Vec<Arc<ThreadComm>>) {
        let group = Arc::new(ThreadGroup {
            world_size,
            round: Mutex::new(Round {
                slots: vec![None; world_size],
                ..Round::default()
            }),
            cv: Condvar::new(),
        });
        let comms = (0..world_size)
            .map(|rank| {
                Arc::new(ThreadComm {
                    rank,
                    group: group.clone(),
                    stats: Mutex::new(CommStats::default()),
                })
            })
            .collect();
        (group, comms)
    }

    fn lock(&self) -> CResult<MutexGuard<'_, Round>> {
        self.round
            .lock()
            .map_err(|_| err("tensor-parallel group: a rank panicked during a collective"))
    }

    /// Makes every pending and later collective fail until [`ThreadGroup::reset`].
    pub fn abort(&self) {
        if let Ok(mut r) = self.round.lock() {
            r.aborted = true;
        }
        self.cv.notify_all();
    }

    /// Clears an aborted round. Call only when no rank is inside a collective.
    pub fn reset(&self) {
        if let Ok(mut r) = self.round.lock() {
            let generation = r.generation + 1;
            *r = Round {
                generation,
                slots: vec![None; self.world_size],
                ..Round::default()
            };
        }
    }

    /// Returns the combined tensor and the seconds this rank spent combining.
    fn rendezvous(&self, rank: usize, t: &Tensor, op: Op) -> CResult<(Tensor, f64)> {
        let aborted = || err("tensor-parallel collective aborted: another rank failed");
        let mut r = self.lock()?;
        if r.aborted {
            return Err(aborted());
        }
        if r.op.is_some_and(|o| o != op) {
            r.aborted = true;
            self.cv.notify_all();
            return Err(err(format!(
                "tensor-parallel ranks disagree on the collective: {:?} vs {op:?}",
                r.op
            )));
        }
        r.op = Some(op);
        r.slots[rank] = Some(t.clone());
        r.arrived += 1;
        let generation = r.generation;
        if r.arrived == self.world_size {
            let parts: Vec<Tensor> = r.slots.iter_mut().filter_map(Option::take).collect();
            let start = Instant::now();
            let combined = combine(op, &parts).map_err(|e| e.to_string());
            let spent = start.elapsed().as_secs_f64();
            r.result = Some(combined.clone());
            r.arrived = 0;
            r.op = None;
            r.generation += 1;
            self.cv.notify_all();
            return combined.map(|t| (t, spent)).map_err(err);
        }
        loop {
            r = self
                .cv
                .wait(r)
                .map_err(|_| err("tensor-parallel group: a rank panicked during a collective"))?;
            if r.generation != generation {
                return match &r.result {
                    Some(Ok(t)) => Ok((t.clone(), 0.0)),
                    Some(Err(e)) => Err(err(e.clone())),
                    None => Err(aborted()),
                };
            }
            if r.aborted {
                return Err(aborted());
            }
        }
    }
}

/// Combines the rank slots in rank order.
fn combine(op: Op, parts: &[Tensor]) -> CResult<Tensor> {
    match op {
        Op::Sum => {
            let mut acc = parts
                .first()
                .cloned()
                .ok_or_else(|| err("empty collective"))?;
            for p in &parts[1..] {
                acc = (acc + p)?;
            }
            Ok(acc)
        }
        Op::GatherLast => Tensor::cat(parts, D::Minus1),
    }
}

impl ThreadComm {
    pub fn stats(&self) -> CommStats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }

    fn timed(&self, t: &Tensor, op: Op) -> CResult<Tensor> {
        let start = Instant::now();
        let out = self.group.rendezvous(self.rank, t, op);
        if let Ok(mut s) = self.stats.lock() {
            s.calls += 1;
            s.bytes += super::meter::bytes(t);
            s.seconds += start.elapsed().as_secs_f64();
            if let Ok((_, combining)) = &out {
                s.combine_seconds += combining;
            }
        }
        out.map(|(t, _)| t)
    }
}

impl Comm for ThreadComm {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world_size(&self) -> usize {
        self.group.world_size
    }
    fn all_reduce_sum(&self, t: &Tensor) -> CResult<Tensor> {
        self.timed(t, Op::Sum)
    }
    fn all_gather_last_dim(&self, t: &Tensor) -> CResult<Tensor> {
        self.timed(t, Op::GatherLast)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn run_ranks(
        ws: usize,
        f: impl Fn(&ThreadComm) -> CResult<Tensor> + Send + Sync,
    ) -> Vec<CResult<Tensor>> {
        let (_group, comms) = ThreadGroup::new(ws);
        std::thread::scope(|s| {
            let handles: Vec<_> = comms.iter().map(|c| s.spawn(|| f(c))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(err("rank panicked"))))
                .collect()
        })
    }

    #[test]
    fn all_reduce_sums_in_rank_order_on_every_rank() -> CResult<()> {
        for ws in [1usize, 2, 3, 4] {
            let outs = run_ranks(ws, |c| {
                let mut last = Tensor::zeros(2, candle_core::DType::F32, &Device::Cpu)?;
                for round in 0..50u32 {
                    let v = (c.rank() as f32 + 1.0) * (round as f32 + 1.0);
                    let t = Tensor::new(&[v, 10.0 * v], &Device::Cpu)?;
                    last = c.all_reduce_sum(&t)?;
                }
                Ok(last)
            });
            let want = 50.0 * (ws * (ws + 1) / 2) as f32;
            for o in outs {
                assert_eq!(o?.to_vec1::<f32>()?, vec![want, 10.0 * want]);
            }
        }
        Ok(())
    }

    #[test]
    fn all_gather_concatenates_in_rank_order() -> CResult<()> {
        let outs = run_ranks(3, |c| {
            let t = Tensor::new(&[[c.rank() as f32; 2]], &Device::Cpu)?;
            c.all_gather_last_dim(&t)
        });
        for o in outs {
            assert_eq!(o?.to_vec2::<f32>()?, vec![vec![0., 0., 1., 1., 2., 2.]]);
        }
        Ok(())
    }

    #[test]
    fn an_aborted_group_releases_waiting_ranks() {
        let (group, comms) = ThreadGroup::new(2);
        let waiting = {
            let c = comms[0].clone();
            std::thread::spawn(move || {
                let t = Tensor::new(&[1f32], &Device::Cpu)?;
                c.all_reduce_sum(&t)
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        group.abort();
        let r = waiting.join().expect("rank thread");
        assert!(r.expect_err("aborted").to_string().contains("aborted"));
        group.reset();
        let outs: Vec<_> = std::thread::scope(|s| {
            let hs: Vec<_> = comms
                .iter()
                .map(|c| s.spawn(|| c.all_reduce_sum(&Tensor::new(&[2f32], &Device::Cpu)?)))
                .collect();
            hs.into_iter().map(|h| h.join().expect("rank")).collect()
        });
        for o in outs {
            assert_eq!(o.and_then(|t| t.to_vec1::<f32>()).ok(), Some(vec![4.0]));
        }
    }
}
