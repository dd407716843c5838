//! The Llama family: Llama (incl. Llama-3 rope scaling), Mistral (sliding window) and Qwen2
//! (q/k/v biases, tied embeddings), written once on column/row-parallel layers.
//!
//! Follows transformers' `modeling_llama.py`, `modeling_mistral.py` and `modeling_qwen2.py`:
//! pre-norm RMSNorm blocks, rotate-half rotary embeddings, grouped-query attention and a SwiGLU
//! MLP. Unlike candle-transformers' `llama`, it returns hidden states for every position and
//! takes an explicit mask, so padded batches, shared-prefix caches and windows are exact.

use std::sync::Arc;

use candle_core::{Module, Result as CResult, Tensor};

use crate::api::EngineError;
use crate::checkpoint::{ModelConfig, Weights};
use crate::models::{CausalLm, KvCache, Llama3Scaling, ModelSpec, Rope, RopeScaling, Step, attend};
use crate::parallel::{
    ColumnParallelLinear, Comm, LmHead, ReplicatedLinear, RowParallelLinear, TpShape, check_tp,
    load_qkv,
};

/// Which member of the family; selects bias and window defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Llama,
    Mistral,
    Qwen2,
}

/// Resolved configuration (nothing optional left but true options).
#[derive(Debug, Clone)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: RopeScaling,
    pub max_position_embeddings: usize,
    pub tie_word_embeddings: bool,
    pub qkv_bias: bool,
    pub o_bias: bool,
    pub mlp_bias: bool,
    pub sliding_window: Option<usize>,
}

/// Reads `rope_theta` (or `rope_parameters.rope_theta`) with a default.
pub fn rope_theta(c: &ModelConfig, default: f64) -> Result<f64, EngineError> {
    if let Some(t) = c.opt_f64("rope_theta")? {
        return Ok(t);
    }
    Ok(c.opt_value("rope_parameters")
        .and_then(|p| p.get("rope_theta"))
        .and_then(|t| t.as_f64())
        .unwrap_or(default))
}

fn rope_scaling(c: &ModelConfig) -> Result<RopeScaling, EngineError> {
    let params = c
        .opt_value("rope_scaling")
        .or_else(|| c.opt_value("rope_parameters"));
    let Some(p) = params else {
        return Ok(RopeScaling::None);
    };
    let kind = p
        .get("rope_type")
        .or_else(|| p.get("type"))
        .and_then(|t| t.as_str())
        .unwrap_or("default");
    let num = |k: &str| -> Result<f64, EngineError> {
        p.get(k).and_then(|v| v.as_f64()).ok_or_else(|| {
            c.err(
                &format!("rope_scaling.{k}"),
                format!("missing for rope_type {kind}"),
            )
        })
    };
    match kind {
        "default" => Ok(RopeScaling::None),
        "linear" => Ok(RopeScaling::Linear(num("factor")?)),
        "llama3" => Ok(RopeScaling::Llama3(Llama3Scaling {
            factor: num("factor")?,
            low_freq_factor: num("low_freq_factor")?,
            high_freq_factor: num("high_freq_factor")?,
            original_max_position_embeddings: num("original_max_position_embeddings")?,
        })),
        other => Err(c.err(
            "rope_scaling.rope_type",
            format!("`{other}` is not supported (supported: default, linear, llama3)"),
        )),
    }
}

impl Config {
    pub fn from_model_config(c: &ModelConfig, variant: Variant) -> Result<Self, EngineError> {
        let hidden_size = c.usize("hidden_size")?;
        let num_heads = c.usize("num_attention_heads")?;
        if num_heads == 0 || hidden_size % num_heads != 0 && c.opt_usize("head_dim")?.is_none() {
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
        if let Some(act) = c.opt_str("hidden_act")
            && act != "silu"
            && act != "swish"
        {
            return Err(c.err(
                "hidden_act",
                format!("`{act}` is not supported (expected silu)"),
            ));
        }
        let attention_bias = c.opt_bool("attention_bias")?.unwrap_or(false);
        let (qkv_bias, o_bias, sliding_window) = match variant {
            Variant::Llama => (attention_bias, attention_bias, None),
            Variant::Mistral => (
                false,
                false,
                super::sliding_window(
                    "MistralForCausalLM",
                    c.opt_bool("use_sliding_window")?,
                    c.opt_usize("sliding_window")?,
                ),
            ),
            Variant::Qwen2 => (
                true,
                false,
                super::sliding_window(
                    "Qwen2ForCausalLM",
                    c.opt_bool("use_sliding_window")?,
                    c.opt_usize("sliding_window")?,
                ),
            ),
        };
        Ok(Config {
            vocab_size: c.usize("vocab_size")?,
            hidden_size,
            intermediate_size: c.usize("intermediate_size")?,
            num_layers: c.usize("num_hidden_layers")?,
            num_heads,
            num_kv_heads,
            head_dim: c.opt_usize("head_dim")?.unwrap_or(hidden_size / num_heads),
            rms_norm_eps: c.opt_f64("rms_norm_eps")?.unwrap_or(1e-6),
            rope_theta: rope_theta(c, 10_000.0)?,
            rope_scaling: rope_scaling(c)?,
            max_position_embeddings: c.opt_usize("max_position_embeddings")?.unwrap_or(4096),
            tie_word_embeddings: c.opt_bool("tie_word_embeddings")?.unwrap_or(false),
            qkv_bias,
            o_bias,
            mlp_bias: c.opt_bool("mlp_bias")?.unwrap_or(false),
            sliding_window,
        })
    }
}

#[derive(Debug)]
struct Attention {
    q: ColumnParallelLinear,
    k: ColumnParallelLinear,
    v: ColumnParallelLinear,
    o: RowParallelLinear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

#[derive(Debug)]
struct Mlp {
    gate: ColumnParallelLinear,
    up: ColumnParallelLinear,
    down: RowParallelLinear,
}

#[derive(Debug)]
struct Block {
    input_norm: Tensor,
    attn: Attention,
    post_norm: Tensor,
    mlp: Mlp,
}

/// A Llama-family model (one rank's shard of it).
#[derive(Debug)]
pub struct Llama {
    cfg: Config,
    spec: ModelSpec,
    embed: Tensor,
    blocks: Vec<Block>,
    norm: Tensor,
    lm_head: LmHead,
    rope: Rope,
}

impl Llama {
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
        let (h, d) = (cfg.hidden_size, cfg.head_dim);
        let embed = w.get("model.embed_tokens.weight", &[cfg.vocab_size, h])?;
        let mut blocks = Vec::with_capacity(cfg.num_layers);
        for i in 0..cfg.num_layers {
            let p = format!("model.layers.{i}");
            let [q, k, v] = load_qkv(
                w,
                comm,
                &format!("{p}.self_attn"),
                h,
                (cfg.num_heads, cfg.num_kv_heads, d),
                cfg.qkv_bias,
            )?;
            let attn = Attention {
                q,
                k,
                v,
                o: RowParallelLinear::load(
                    w,
                    comm,
                    &format!("{p}.self_attn.o_proj"),
                    cfg.num_heads * d,
                    h,
                    cfg.o_bias,
                )?,
                heads: cfg.num_heads / ws,
                kv_heads: kv_count,
                head_dim: d,
            };
            let i_sz = cfg.intermediate_size;
            let mlp = Mlp {
                gate: ColumnParallelLinear::load(
                    w,
                    comm,
                    &format!("{p}.mlp.gate_proj"),
                    h,
                    i_sz,
                    cfg.mlp_bias,
                )?,
                up: ColumnParallelLinear::load(
                    w,
                    comm,
                    &format!("{p}.mlp.up_proj"),
                    h,
                    i_sz,
                    cfg.mlp_bias,
                )?,
                down: RowParallelLinear::load(
                    w,
                    comm,
                    &format!("{p}.mlp.down_proj"),
                    i_sz,
                    h,
                    cfg.mlp_bias,
                )?,
            };
            blocks.push(Block {
                input_norm: w.get(&format!("{p}.input_layernorm.weight"), &[h])?,
                attn,
                post_norm: w.get(&format!("{p}.post_attention_layernorm.weight"), &[h])?,
                mlp,
            });
        }
        let norm = w.get("model.norm.weight", &[h])?;
        let lm_head = if cfg.tie_word_embeddings {
            LmHead::Replicated(ReplicatedLinear::from_weight(embed.clone(), None))
        } else {
            LmHead::load(w, comm, "lm_head", (h, cfg.vocab_size), false)?
        };
        let rope = Rope::new(d, cfg.rope_theta, cfg.rope_scaling);
        let num_parameters = count_params(&cfg);
        let spec = ModelSpec {
            family,
            vocab_size: cfg.vocab_size,
            hidden_size: h,
            num_layers: cfg.num_layers,
            max_position_embeddings: cfg.max_position_embeddings,
            sliding_window: cfg.sliding_window,
            num_parameters,
            linear_params: cfg.num_layers
                * (2 * h * cfg.num_heads * d
                    + 2 * h * cfg.num_kv_heads * d
                    + 3 * h * cfg.intermediate_size)
                + cfg.vocab_size * h,
            attn_width: cfg.num_heads * d,
        };
        Ok(Llama {
            cfg,
            spec,
            embed,
            blocks,
            norm,
            lm_head,
            rope,
        })
    }
}

fn count_params(c: &Config) -> usize {
    let (h, d) = (c.hidden_size, c.head_dim);
    let attn = h * c.num_heads * d * 2 + h * c.num_kv_heads * d * 2;
    let mlp = 3 * h * c.intermediate_size;
    let head = if c.tie_word_embeddings {
        0
    } else {
        c.vocab_size * h
    };
    c.vocab_size * h + c.num_layers * (attn + mlp + 2 * h) + h + head
}

impl Attention {
    fn forward(
        &self,
        x: &Tensor,
        rope: &Rope,
        cos_sin: &(Tensor, Tensor),
        cache: &mut Option<(Tensor, Tensor)>,
        mask: &Tensor,
    ) -> CResult<Tensor> {
        let (b, t, _) = x.dims3()?;
        let split = |y: Tensor, n: usize| -> CResult<Tensor> {
            y.reshape((b, t, n, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.q.forward(x)?, self.heads)?;
        let k = split(self.k.forward(x)?, self.kv_heads)?;
        let v = split(self.v.forward(x)?, self.kv_heads)?;
        let q = rope.apply(&q, &cos_sin.0, &cos_sin.1)?;
        let k = rope.apply(&k, &cos_sin.0, &cos_sin.1)?;
        let y = attend(&q, &k, &v, cache, mask)?;
        self.o.forward(&y)
    }
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        let g = candle_nn::ops::silu(&self.gate.forward(x)?)?;
        let gu = (g * self.up.forward(x)?)?;
        // gate, its activation, up and their product are alive together at the peak.
        crate::parallel::meter::note(4 * crate::parallel::meter::bytes(&gu));
        self.down.forward(&gu)
    }
}

impl CausalLm for Llama {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn forward(&self, input_ids: &Tensor, step: &Step, cache: &mut KvCache) -> CResult<Tensor> {
        let (b, t) = input_ids.dims2()?;
        let eps = self.cfg.rms_norm_eps as f32;
        let mut x = self
            .embed
            .index_select(&input_ids.flatten_all()?, 0)?
            .reshape((b, t, self.cfg.hidden_size))?;
        let cos_sin = self
            .rope
            .cos_sin(&step.positions, b, t, x.dtype(), x.device())?;
        for (i, blk) in self.blocks.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &blk.input_norm, eps)?;
            let h = blk
                .attn
                .forward(&h, &self.rope, &cos_sin, cache.layer_mut(i), &step.mask)?;
            x = (x + h)?;
            let h = candle_nn::ops::rms_norm(&x, &blk.post_norm, eps)?;
            x = (&x + blk.mlp.forward(&h)?)?;
        }
        candle_nn::ops::rms_norm(&x, &self.norm, eps)
    }

    fn lm_head(&self, hidden: &Tensor) -> CResult<Tensor> {
        self.lm_head.forward(hidden)
    }
}
