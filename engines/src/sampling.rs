//! Next-token choice from a row of logits: greedy argmax, or temperature / top-k / top-p
//! sampling driven by a per-request seeded RNG (so results do not depend on batch makeup).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::api::Sampling;

/// Index of the first maximum (torch `argmax` semantics).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &x) in logits.iter().enumerate() {
        if x > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// `log p(target)` under `softmax(logits)`, computed in f64, and whether `target` is the argmax.
pub fn logprob_of(logits: &[f32], target: u32) -> (f64, bool) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&x| (x as f64 - max).exp()).sum();
    let lse = max + sum.ln();
    let lp = logits
        .get(target as usize)
        .map_or(f64::NEG_INFINITY, |&x| x as f64 - lse);
    (lp, argmax(logits) == target)
}

/// Chooses tokens for one sequence.
#[derive(Debug)]
pub struct Sampler {
    mode: Sampling,
    rng: Option<StdRng>,
}

impl Sampler {
    pub fn new(mode: Sampling) -> Self {
        let rng = match mode {
            Sampling::Greedy => None,
            Sampling::Sample { seed, .. } => Some(StdRng::seed_from_u64(seed)),
        };
        Sampler { mode, rng }
    }

    pub fn next(&mut self, logits: &[f32]) -> u32 {
        let (
            Sampling::Sample {
                temperature,
                top_p,
                top_k,
                ..
            },
            Some(rng),
        ) = (self.mode, self.rng.as_mut())
        else {
            return argmax(logits);
        };
        if temperature <= 0.0 {
            return argmax(logits);
        }
        let mut cand: Vec<(u32, f64)> = logits
            .iter()
            .enumerate()
            .map(|(i, &x)| (i as u32, x as f64 / temperature as f64))
            .collect();
        cand.sort_by(|a, b| b.1.total_cmp(&a.1));
        if let Some(k) = top_k.filter(|&k| k > 0) {
            cand.truncate(k);
        }
        let max = cand.first().map_or(0.0, |c| c.1);
        let mut probs: Vec<f64> = cand.iter().map(|c| (c.1 - max).exp()).collect();
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
        if let Some(p) = top_p.filter(|&p| p > 0.0 && p < 1.0) {
            let mut acc = 0.0;
            let mut keep = probs.len();
            for (i, q) in probs.iter().enumerate() {
                acc += q;
                if acc >= p as f64 {
                    keep = i + 1;
                    break;
                }
            }
            probs.truncate(keep);
            cand.truncate(keep);
        }
        let total: f64 = probs.iter().sum();
        let mut u = rng.random::<f64>() * total;
        for (c, p) in cand.iter().zip(&probs) {
            if u < *p {
                return c.0;
            }
            u -= p;
        }
        cand.last().map_or(0, |c| c.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_first_maximum() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
    }

    #[test]
    fn logprob_matches_closed_form() {
        let (lp, greedy) = logprob_of(&[0.0, 0.0], 1);
        assert!((lp - 0.5f64.ln()).abs() < 1e-12);
        assert!(!greedy);
    }

    #[test]
    fn seeded_sampling_is_reproducible_and_respects_top_k() {
        let logits: Vec<f32> = (0..50).map(|i| (i % 7) as f32).collect();
        let mode = Sampling::Sample {
            temperature: 1.0,
            top_p: Some(0.9),
            top_k: Some(3),
            seed: 42,
        };
        let a: Vec<u32> = {
            let mut s = Sampler::new(mode);
            (0..20).map(|_| s.next(&logits)).collect()
        };
        let b: Vec<u32> = {
            let mut s = Sampler::new(mode);
            (0..20).map(|_| s.next(&logits)).collect()
        };
        assert_eq!(a, b);
        // top-3 of logits are the three ids with value 6: 6, 13, 20 (sort is stable).
        assert!(a.iter().all(|t| [6, 13, 20].contains(t)), "{a:?}");
    }

    #[test]
    fn zero_temperature_is_greedy() {
        let mut s = Sampler::new(Sampling::Sample {
            temperature: 0.0,
            top_p: None,
            top_k: None,
            seed: 1,
        });
        assert_eq!(s.next(&[0.0, 5.0, 1.0]), 1);
    }
}
