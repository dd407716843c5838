//! Model families and what they share: the `CausalLm` interface (hidden states for every
//! position), rotary embeddings, masked attention over a per-sequence KV cache, and the
//! construction of positions and attention masks for padded, cached batches.

pub mod llama;
pub mod phi;
pub mod registry;

use candle_core::{D, DType, Device, Result as CResult, Tensor};

/// Static facts about a loaded model.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub family: &'static str,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub max_position_embeddings: usize,
    /// transformers semantics: a query at position q sees keys k with `q - w < k <= q`.
    pub sliding_window: Option<usize>,
    pub num_parameters: usize,
    /// Weights used in matmuls per token (all linear layers incl. the LM head; no embedding).
    pub linear_params: usize,
    /// Attention width (heads x head_dim) on this rank.
    pub attn_width: usize,
}

/// One forward step of a batch: the rotary position of every new token and the additive
/// attention mask `[b, 1, t, cached + t]` (0 = visible, -inf = hidden).
#[derive(Debug)]
pub struct Step {
    pub positions: Vec<u32>,
    pub mask: Tensor,
}

/// A causal language model that returns hidden states for every input position.
pub trait CausalLm: Send {
    fn spec(&self) -> &ModelSpec;
    /// `input_ids` `[b, t]` (u32); appends this step's keys/values to `cache`; returns the final
    /// normalised hidden states `[b, t, hidden]`.
    fn forward(&self, input_ids: &Tensor, step: &Step, cache: &mut KvCache) -> CResult<Tensor>;
    /// Logits `[.., vocab]` for hidden states `[.., hidden]`.
    fn lm_head(&self, hidden: &Tensor) -> CResult<Tensor>;
}

/// Per-layer keys and values `[b, kv_heads, slots, head_dim]` for a batch of sequences.
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    pub fn new(num_layers: usize) -> Self {
        KvCache {
            layers: vec![None; num_layers],
        }
    }

    /// Number of cached slots (0 when empty).
    pub fn slots(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .map(|(k, _)| k.dim(2).unwrap_or(0))
            .unwrap_or(0)
    }

    /// A cache of `n` rows, each a copy of this single-row cache (a shared prefix).
    pub fn expand(&self, n: usize) -> CResult<KvCache> {
        let layers = self
            .layers
            .iter()
            .map(|l| match l {
                None => Ok(None),
                Some((k, v)) => {
                    let grow = |t: &Tensor| -> CResult<Tensor> {
                        let mut dims = t.dims().to_vec();
                        dims[0] = n;
                        t.broadcast_as(dims)?.contiguous()
                    };
                    Ok(Some((grow(k)?, grow(v)?)))
                }
            })
            .collect::<CResult<Vec<_>>>()?;
        Ok(KvCache { layers })
    }

    /// A cache whose row `i` is row `rows[i]` of this one (rows may repeat: a shared prefix).
    /// Each layer is indexed on its own device (a tensor-parallel cache spans several).
    pub fn select(&self, rows: &[u32]) -> CResult<KvCache> {
        let layers = self
            .layers
            .iter()
            .map(|l| match l {
                None => Ok(None),
                Some((k, v)) => {
                    let idx = Tensor::new(rows, k.device())?;
                    Ok(Some((k.index_select(&idx, 0)?, v.index_select(&idx, 0)?)))
                }
            })
            .collect::<CResult<Vec<_>>>()?;
        Ok(KvCache { layers })
    }

    /// The rows of `self` followed by the rows of `other`, each cache left-padded to the larger
    /// slot count with zero keys and values (the padding slots must be masked, as
    /// [`build_step`] does for `None` slots). An empty cache merges as the other one.
    pub fn concat_rows(&self, other: &KvCache) -> CResult<KvCache> {
        if self.layers.iter().all(Option::is_none) {
            return Ok(other.clone());
        }
        if other.layers.iter().all(Option::is_none) {
            return Ok(self.clone());
        }
        if self.layers.len() != other.layers.len() {
            candle_core::bail!(
                "cannot merge KV caches of {} and {} layers",
                self.layers.len(),
                other.layers.len()
            );
        }
        let slots = self.slots().max(other.slots());
        let pad = |t: &Tensor| -> CResult<Tensor> {
            let have = t.dim(2)?;
            if have == slots {
                return Ok(t.clone());
            }
            let mut dims = t.dims().to_vec();
            dims[2] = slots - have;
            let zeros = Tensor::zeros(dims, t.dtype(), t.device())?;
            Tensor::cat(&[&zeros, t], 2)
        };
        let layers = self
            .layers
            .iter()
            .zip(&other.layers)
            .enumerate()
            .map(|(i, pair)| match pair {
                (Some((ka, va)), Some((kb, vb))) => Ok(Some((
                    Tensor::cat(&[&pad(ka)?, &pad(kb)?], 0)?,
                    Tensor::cat(&[&pad(va)?, &pad(vb)?], 0)?,
                ))),
                _ => candle_core::bail!("cannot merge KV caches: layer {i} is filled in only one"),
            })
            .collect::<CResult<Vec<_>>>()?;
        Ok(KvCache { layers })
    }

    /// Drops the first `n` slots of every row (slots that no row attends to any more).
    pub fn trim_front(&self, n: usize) -> CResult<KvCache> {
        let slots = self.slots();
        if n == 0 {
            return Ok(self.clone());
        }
        let layers = self
            .layers
            .iter()
            .map(|l| match l {
                None => Ok(None),
                Some((k, v)) => Ok(Some((
                    k.narrow(2, n, slots.saturating_sub(n))?,
                    v.narrow(2, n, slots.saturating_sub(n))?,
                ))),
            })
            .collect::<CResult<Vec<_>>>()?;
        Ok(KvCache { layers })
    }

    pub fn layer_mut(&mut self, i: usize) -> &mut Option<(Tensor, Tensor)> {
        &mut self.layers[i]
    }

    /// Bytes of the cached keys and values.
    pub fn bytes(&self) -> u64 {
        self.layers
            .iter()
            .flatten()
            .map(|(k, v)| crate::parallel::meter::bytes(k) + crate::parallel::meter::bytes(v))
            .sum()
    }

    /// Hands each of `ranks` ranks its own cache of `per_rank` layers. A tensor-parallel cache
    /// holds every rank's layers, rank-major (so [`KvCache::select`] and
    /// [`KvCache::expand`] act on all ranks at once); a fresh cache of `per_rank` empty
    /// layers splits into fresh caches.
    pub fn split_ranks(&mut self, ranks: usize, per_rank: usize) -> CResult<Vec<KvCache>> {
        let layers = std::mem::take(&mut self.layers);
        if layers.len() == per_rank && layers.iter().all(Option::is_none) {
            return Ok((0..ranks).map(|_| KvCache::new(per_rank)).collect());
        }
        if per_rank == 0 || layers.len() != ranks * per_rank {
            candle_core::bail!(
                "KV cache has {} layers; expected {per_rank} (fresh) or {ranks} ranks x {per_rank}",
                layers.len()
            );
        }
        Ok(layers
            .chunks(per_rank)
            .map(|c| KvCache { layers: c.to_vec() })
            .collect())
    }

    /// The inverse of [`KvCache::split_ranks`].
    pub fn join_ranks(parts: Vec<KvCache>) -> KvCache {
        KvCache {
            layers: parts.into_iter().flat_map(|p| p.layers).collect(),
        }
    }
}

/// Rotary embedding (rotate-half form) over the first `rot_dim` features of each head.
#[derive(Debug, Clone)]
pub struct Rope {
    /// `rot_dim / 2` inverse frequencies, rounded to f32 as transformers computes them.
    inv_freq: Vec<f32>,
    pub rot_dim: usize,
}

/// Llama-3 frequency scaling parameters (`rope_scaling.rope_type = "llama3"`).
#[derive(Debug, Clone, Copy)]
pub struct Llama3Scaling {
    pub factor: f64,
    pub low_freq_factor: f64,
    pub high_freq_factor: f64,
    pub original_max_position_embeddings: f64,
}

#[derive(Debug, Clone, Copy)]
pub enum RopeScaling {
    None,
    Linear(f64),
    Llama3(Llama3Scaling),
}

impl Rope {
    pub fn new(rot_dim: usize, theta: f64, scaling: RopeScaling) -> Self {
        let inv_freq = (0..rot_dim / 2)
            .map(|i| {
                let f = 1.0 / theta.powf((2 * i) as f64 / rot_dim as f64);
                let f = match scaling {
                    RopeScaling::None => f,
                    RopeScaling::Linear(factor) => f / factor,
                    RopeScaling::Llama3(s) => {
                        let low_wavelen = s.original_max_position_embeddings / s.low_freq_factor;
                        let high_wavelen = s.original_max_position_embeddings / s.high_freq_factor;
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / s.factor
                        } else {
                            let smooth = (s.original_max_position_embeddings / wavelen
                                - s.low_freq_factor)
                                / (s.high_freq_factor - s.low_freq_factor);
                            (1.0 - smooth) * f / s.factor + smooth * f
                        }
                    }
                };
                f as f32
            })
            .collect();
        Rope { inv_freq, rot_dim }
    }

    /// cos and sin `[b, t, rot_dim/2]` for `positions` (`b*t`, row-major).
    pub fn cos_sin(
        &self,
        positions: &[u32],
        b: usize,
        t: usize,
        dtype: DType,
        device: &Device,
    ) -> CResult<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(positions.len() * half);
        let mut sin = Vec::with_capacity(positions.len() * half);
        for &p in positions {
            for &f in &self.inv_freq {
                let angle = (p as f32 * f) as f64;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        let cos = Tensor::from_vec(cos, (b, t, half), device)?.to_dtype(dtype)?;
        let sin = Tensor::from_vec(sin, (b, t, half), device)?.to_dtype(dtype)?;
        Ok((cos, sin))
    }

    /// Applies the rotation to `x` `[b, h, t, head_dim]`.
    pub fn apply(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> CResult<Tensor> {
        let head_dim = x.dim(D::Minus1)?;
        if self.rot_dim == head_dim {
            candle_nn::rotary_emb::rope(&x.contiguous()?, cos, sin)
        } else {
            let rot = x.narrow(D::Minus1, 0, self.rot_dim)?.contiguous()?;
            let pass = x.narrow(D::Minus1, self.rot_dim, head_dim - self.rot_dim)?;
            let rot = candle_nn::rotary_emb::rope(&rot, cos, sin)?;
            Tensor::cat(&[&rot, &pass], D::Minus1)
        }
    }
}

/// The attention window a checkpoint's `config.json` asks for, by the rule of its family's
/// Hugging Face class: Qwen2 uses `sliding_window` only when `use_sliding_window` is true (its
/// default is false); Llama and Phi have none; others (Mistral, Mixtral, ...) use it unless
/// `use_sliding_window` is false. The planner's sizing reads configs through this too.
pub fn sliding_window(
    architecture: &str,
    use_sliding_window: Option<bool>,
    sliding_window: Option<usize>,
) -> Option<usize> {
    match architecture {
        "Qwen2ForCausalLM" => sliding_window.filter(|_| use_sliding_window == Some(true)),
        "LlamaForCausalLM" | "PhiForCausalLM" => None,
        _ => sliding_window.filter(|_| use_sliding_window != Some(false)),
    }
}

/// Scaled dot-product attention of new queries over cached + new keys.
///
/// `q` `[b, heads, t, d]`, `k`/`v` `[b, kv_heads, t, d]`; appends `k`/`v` to `cache`; returns
/// `[b, t, heads*d]`. Scores and softmax run in f32.
pub fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    cache: &mut Option<(Tensor, Tensor)>,
    mask: &Tensor,
) -> CResult<Tensor> {
    let (b, heads, t, d) = q.dims4()?;
    let (k, v) = match cache.take() {
        None => (k.contiguous()?, v.contiguous()?),
        Some((ck, cv)) => (
            Tensor::cat(&[&ck, &k.contiguous()?], 2)?.contiguous()?,
            Tensor::cat(&[&cv, &v.contiguous()?], 2)?.contiguous()?,
        ),
    };
    *cache = Some((k.clone(), v.clone()));
    let kv_heads = k.dim(1)?;
    let n_rep = heads / kv_heads;
    let k = candle_transformers::utils::repeat_kv(k, n_rep)?;
    let v = candle_transformers::utils::repeat_kv(v, n_rep)?;
    let dtype = q.dtype();
    let scale = 1.0 / (d as f64).sqrt();
    let scores = (q
        .to_dtype(DType::F32)?
        .contiguous()?
        .matmul(&k.to_dtype(DType::F32)?.t()?)?
        * scale)?;
    let scores = scores.broadcast_add(mask)?;
    let probs = candle_nn::ops::softmax_last_dim(&scores)?;
    let out = probs.to_dtype(dtype)?.matmul(&v.contiguous()?)?;
    {
        use crate::parallel::meter::{bytes, note};
        note(bytes(q) + bytes(&k) + bytes(&v) + 2 * bytes(&scores) + bytes(&out));
    }
    out.transpose(1, 2)?.reshape((b, t, heads * d))
}

/// Rotary position of one cache slot or new token; `None` marks padding.
pub type SlotPos = Option<u32>;

/// Builds a [`Step`] for `new[r]` tokens appended to each row's cached slots `cached[r]`
/// (all rows have equal slot counts; padding is `None`). A real query sees earlier real keys
/// within the sliding window; a padding query sees only itself (keeps softmax finite).
pub fn build_step(
    cached: &[Vec<SlotPos>],
    new: &[Vec<SlotPos>],
    window: Option<usize>,
    device: &Device,
) -> CResult<Step> {
    let b = new.len();
    let t = new.first().map_or(0, |r| r.len());
    let s = cached.first().map_or(0, |r| r.len());
    let total = s + t;
    let mut mask = vec![f32::NEG_INFINITY; b * t * total];
    let mut positions = Vec::with_capacity(b * t);
    for r in 0..b {
        let keys: Vec<SlotPos> = cached[r].iter().chain(new[r].iter()).copied().collect();
        for i in 0..t {
            let row = &mut mask[(r * t + i) * total..(r * t + i + 1) * total];
            let q_slot = s + i;
            let q_pos = new[r][i];
            positions.push(q_pos.unwrap_or(0));
            row[q_slot] = 0.0;
            let Some(qp) = q_pos else { continue };
            for (j, kp) in keys.iter().enumerate().take(q_slot) {
                if let Some(kp) = kp {
                    let in_window = window.is_none_or(|w| (qp as usize) < *kp as usize + w);
                    if *kp <= qp && in_window {
                        row[j] = 0.0;
                    }
                }
            }
        }
    }
    let mask = Tensor::from_vec(mask, (b, 1, t, total), device)?;
    Ok(Step { positions, mask })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window_follows_each_family() {
        // Qwen2: only when asked for (transformers' default is false).
        assert_eq!(sliding_window("Qwen2ForCausalLM", None, Some(4096)), None);
        assert_eq!(
            sliding_window("Qwen2ForCausalLM", Some(true), Some(4096)),
            Some(4096)
        );
        // Mistral and others: unless turned off.
        assert_eq!(
            sliding_window("MistralForCausalLM", None, Some(4096)),
            Some(4096)
        );
        assert_eq!(
            sliding_window("MistralForCausalLM", Some(false), Some(4096)),
            None
        );
        assert_eq!(sliding_window("MistralForCausalLM", None, None), None);
        // Llama and Phi have none.
        assert_eq!(
            sliding_window("LlamaForCausalLM", Some(true), Some(4096)),
            None
        );
    }

    #[test]
    fn step_mask_applies_window_padding_and_cache() -> CResult<()> {
        // Row 0: two cached real slots (pos 0,1), one new token at pos 2.
        // Row 1: one left pad, one real (pos 0), new token pos 1.
        let cached = vec![vec![Some(0), Some(1)], vec![None, Some(0)]];
        let new = vec![vec![Some(2)], vec![Some(1)]];
        let st = build_step(&cached, &new, Some(2), &Device::Cpu)?;
        assert_eq!(st.positions, vec![2, 1]);
        let m = st.mask.flatten_all()?.to_vec1::<f32>()?;
        let vis: Vec<bool> = m.iter().map(|x| *x == 0.0).collect();
        // window 2: query pos 2 sees pos 1 and 2, not 0.
        assert_eq!(&vis[0..3], &[false, true, true]);
        assert_eq!(&vis[3..6], &[false, true, true]);
        Ok(())
    }

    #[test]
    fn concat_rows_left_pads_the_shorter_cache_with_zeros() -> CResult<()> {
        let dev = Device::Cpu;
        // a: 1 row, 3 slots; b: 2 rows, 1 slot; [b, kv_heads=1, slots, head_dim=2].
        let ka = Tensor::arange(1f32, 7., &dev)?.reshape((1, 1, 3, 2))?;
        let kb = Tensor::new(&[[[[10f32, 11.]]], [[[20., 21.]]]], &dev)?;
        let mut a = KvCache::new(2);
        let mut b = KvCache::new(2);
        for l in 0..2 {
            *a.layer_mut(l) = Some((ka.clone(), (&ka * 2.0)?));
            *b.layer_mut(l) = Some((kb.clone(), (&kb * 2.0)?));
        }
        let m = a.concat_rows(&b)?;
        assert_eq!(m.slots(), 3);
        for l in 0..2 {
            let (k, v) = m.layers[l].clone().expect("filled");
            assert_eq!(k.dims(), &[3, 1, 3, 2]);
            let k = k.flatten_all()?.to_vec1::<f32>()?;
            #[rustfmt::skip]
            assert_eq!(k, vec![
                1., 2., 3., 4., 5., 6.,
                0., 0., 0., 0., 10., 11.,
                0., 0., 0., 0., 20., 21.,
            ]);
            assert_eq!(v.flatten_all()?.to_vec1::<f32>()?[16..], [40f32, 42.]);
        }
        // Merging with an empty cache gives the other; the order of rows follows the call.
        assert_eq!(KvCache::new(2).concat_rows(&b)?.slots(), 1);
        let r = b.concat_rows(&a)?;
        let k = r.layers[0].clone().expect("filled").0.flatten_all()?;
        assert_eq!(k.to_vec1::<f32>()?[..6], [0f32, 0., 0., 0., 10., 11.]);
        // Layer counts must agree; trimming drops leading slots.
        assert!(KvCache::new(3).concat_rows(&KvCache::new(3)).is_ok());
        let mut c = KvCache::new(1);
        *c.layer_mut(0) = Some((kb.clone(), kb.clone()));
        assert!(a.concat_rows(&c).is_err());
        let t = m.trim_front(2)?;
        assert_eq!(t.slots(), 1);
        let k = t.layers[1].clone().expect("filled").0.flatten_all()?;
        assert_eq!(k.to_vec1::<f32>()?, vec![5f32, 6., 10., 11., 20., 21.]);
        Ok(())
    }

    #[test]
    fn padding_query_sees_only_itself() -> CResult<()> {
        let st = build_step(&[vec![]], &[vec![Some(0), None]], None, &Device::Cpu)?;
        let m = st.mask.flatten_all()?.to_vec1::<f32>()?;
        assert_eq!(m[0], 0.0);
        assert!(m[1].is_infinite());
        assert!(m[2].is_infinite());
        assert_eq!(m[3], 0.0);
        Ok(())
    }
}
