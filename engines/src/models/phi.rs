//! Phi (phi-1/1.5/2, transformers' `PhiForCausalLM`, `modeling_phi.py`): one LayerNorm per block
//! feeding attention and MLP in parallel, partial rotary embeddings, `gelu_new`, biases on every
//! dense layer and on the LM head. Built on the same parallel layers as the Llama family.

use std::sync::Arc;

use candle_core::{Module, Result as CResult, Tensor};

use crate::api::EngineError;
use crate::checkpoint::{ModelConfig, Weights};
use crate::models::llama::rope_theta;
use crate::models::{CausalLm, KvCache, ModelSpec, Rope, RopeScaling, Step, attend};
use crate::parallel::{
    ColumnParallelLinear, Comm, LmHead, RowParallelLinear, TpShape, check_tp, load_qkv,
};

#[derive(Debug, Clone)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub layer_norm_eps: f64,
    pub rope_theta: f64,
    pub partial_rotary_factor: f64,
    pub max_position_embeddings: usize,
}

impl Config {
    pub fn from_model_config(c: &ModelConfig) -> Result<Self, EngineError> {
        let hidden_size = c.usize("hidden_size")?;
        let num_heads = c.usize("num_attention_heads")?;
        if num_heads == 0 || hidden_size % num_heads != 0 {
            return Err(c.err(
                "num_attention_heads",
                format!("{num_heads} does not divide hidden_size {hidden_size}"),
            ));
        }
        let num_kv_heads = c.opt_usize("num_key_value_heads")?.unwrap_or(num_heads);
        if num_kv_heads == 0 || num_heads % num_kv_heads != 0 {
            return Err(c.err(
                "num_key_value_heads",
                format!("{num_kv_heads} does not divide num_attention_heads {num_heads}"),
            ));
        }
        if c.opt_bool("qk_layernorm")?.unwrap_or(false) {
            return Err(c.err("qk_layernorm", "true is not supported"));
        }
        if let Some(act) = c.opt_str("hidden_act")
            && act != "gelu_new"
            && act != "gelu_pytorch_tanh"
        {
            return Err(c.err(
                "hidden_act",
                format!("`{act}` is not supported (expected gelu_new)"),
            ));
        }
        let partial = match c.opt_f64("partial_rotary_factor")? {
            Some(p) => p,
            None => c
                .opt_value("rope_parameters")
                .and_then(|p| p.get("partial_rotary_factor"))
                .and_then(|p| p.as_f64())
                .unwrap_or(0.5),
        };
        Ok(Config {
            vocab_size: c.usize("vocab_size")?,
            hidden_size,
            intermediate_size: c.usize("intermediate_size")?,
            num_layers: c.usize("num_hidden_layers")?,
            num_heads,
            num_kv_heads,
            layer_norm_eps: c.opt_f64("layer_norm_eps")?.unwrap_or(1e-5),
            rope_theta: rope_theta(c, 10_000.0)?,
            partial_rotary_factor: partial,
            max_position_embeddings: c.opt_usize("max_position_embeddings")?.unwrap_or(2048),
        })
    }
}

#[derive(Debug)]
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn load(w: &Weights, prefix: &str, n: usize, eps: f64) -> Result<Self, EngineError> {
        Ok(LayerNorm {
            weight: w.get(&format!("{prefix}.weight"), &[n])?,
            bias: w.get(&format!("{prefix}.bias"), &[n])?,
            eps: eps as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

#[derive(Debug)]
struct Block {
    norm: LayerNorm,
    q: ColumnParallelLinear,
    k: ColumnParallelLinear,
    v: ColumnParallelLinear,
    dense: RowParallelLinear,
    fc1: ColumnParallelLinear,
    fc2: RowParallelLinear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

#[derive(Debug)]
pub struct Phi {
    cfg: Config,
    spec: ModelSpec,
    embed: Tensor,
    blocks: Vec<Block>,
    final_norm: LayerNorm,
    lm_head: LmHead,
    rope: Rope,
}

impl Phi {
    pub fn load(
        w: &Weights,
        cfg: Config,
        comm: &Arc<dyn Comm>,
        family: &'static str,
    ) -> Result<Self, EngineError> {
        let ws = comm.world_size();
        let shape = TpShape {
            heads: cfg.num_heads,
            kv_heads: cfg.num_kv_heads,
            intermediate: cfg.intermediate_size,
        };
        let kv_count = check_tp(w, shape, comm.as_ref())?;
        let h = cfg.hidden_size;
        let d = h / cfg.num_heads;
        let kv = cfg.num_kv_heads * d;
        let embed = w.get("model.embed_tokens.weight", &[cfg.vocab_size, h])?;
        let mut blocks = Vec::with_capacity(cfg.num_layers);
        for i in 0..cfg.num_layers {
            let p = format!("model.layers.{i}");
            let i_sz = cfg.intermediate_size;
            let [q, k, v] = load_qkv(
                w,
                comm,
                &format!("{p}.self_attn"),
                h,
                (cfg.num_heads, cfg.num_kv_heads, d),
                true,
            )?;
            blocks.push(Block {
                norm: LayerNorm::load(w, &format!("{p}.input_layernorm"), h, cfg.layer_norm_eps)?,
                q,
                k,
                v,
                dense: RowParallelLinear::load(
                    w,
                    comm,
                    &format!("{p}.self_attn.dense"),
                    h,
                    h,
                    true,
                )?,
                fc1: ColumnParallelLinear::load(w, comm, &format!("{p}.mlp.fc1"), h, i_sz, true)?,
                fc2: RowParallelLinear::load(w, comm, &format!("{p}.mlp.fc2"), i_sz, h, true)?,
                heads: cfg.num_heads / ws,
                kv_heads: kv_count,
                head_dim: d,
            });
        }
        let final_norm = LayerNorm::load(w, "model.final_layernorm", h, cfg.layer_norm_eps)?;
        let lm_head = LmHead::load(w, comm, "lm_head", (h, cfg.vocab_size), true)?;
        // transformers: rotary_ndims = int(head_dim * partial_rotary_factor)
        let rot_dim = ((d as f64 * cfg.partial_rotary_factor) as usize) & !1;
        let rope = Rope::new(rot_dim, cfg.rope_theta, RopeScaling::None);
        let per_layer = 2 * h * h
            + 2 * h * kv
            + 2 * h
            + 2 * kv
            + 2 * h * cfg.intermediate_size
            + cfg.intermediate_size
            + h
            + 2 * h;
        let spec = ModelSpec {
            family,
            vocab_size: cfg.vocab_size,
            hidden_size: h,
            num_layers: cfg.num_layers,
            max_position_embeddings: cfg.max_position_embeddings,
            sliding_window: None,
            linear_params: cfg.num_layers
                * (2 * h * h + 2 * h * kv + 2 * h * cfg.intermediate_size)
                + cfg.vocab_size * h,
            attn_width: h,
            num_parameters: 2 * cfg.vocab_size * h
                + cfg.vocab_size
                + cfg.num_layers * per_layer
                + 2 * h,
        };
        Ok(Phi {
            cfg,
            spec,
            embed,
            blocks,
            final_norm,
            lm_head,
            rope,
        })
    }
}

impl Block {
    fn forward(
        &self,
        x: &Tensor,
        rope: &Rope,
        cos_sin: &(Tensor, Tensor),
        cache: &mut Option<(Tensor, Tensor)>,
        mask: &Tensor,
    ) -> CResult<Tensor> {
        let (b, t, _) = x.dims3()?;
        let h = self.norm.forward(x)?;
        let split = |y: Tensor, n: usize| -> CResult<Tensor> {
            y.reshape((b, t, n, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.q.forward(&h)?, self.heads)?;
        let k = split(self.k.forward(&h)?, self.kv_heads)?;
        let v = split(self.v.forward(&h)?, self.kv_heads)?;
        let q = rope.apply(&q, &cos_sin.0, &cos_sin.1)?;
        let k = rope.apply(&k, &cos_sin.0, &cos_sin.1)?;
        let attn = self.dense.forward(&attend(&q, &k, &v, cache, mask)?)?;
        let mlp = self.fc2.forward(&self.fc1.forward(&h)?.gelu()?)?;
        (attn + mlp)? + x
    }
}

impl CausalLm for Phi {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn forward(&self, input_ids: &Tensor, step: &Step, cache: &mut KvCache) -> CResult<Tensor> {
        let (b, t) = input_ids.dims2()?;
        let mut x = self
            .embed
            .index_select(&input_ids.flatten_all()?, 0)?
            .reshape((b, t, self.cfg.hidden_size))?;
        let cos_sin = self
            .rope
            .cos_sin(&step.positions, b, t, x.dtype(), x.device())?;
        for (i, blk) in self.blocks.iter().enumerate() {
            x = blk.forward(&x, &self.rope, &cos_sin, cache.layer_mut(i), &step.mask)?;
        }
        self.final_norm.forward(&x)
    }

    fn lm_head(&self, hidden: &Tensor) -> CResult<Tensor> {
        self.lm_head.forward(hidden)
    }
}
