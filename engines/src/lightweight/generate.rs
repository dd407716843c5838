//! Generation for [`Engine::generate`](crate::api::Engine::generate): requests are tokenized
//! (lm-eval truncation: the last `max_len - max_gen_toks` prompt tokens are kept), sorted and
//! split into batches, and each batch runs to completion on a [`DecodeBatch`]: one left-padded
//! prefill, then token-by-token decoding on the KV cache with finished sequences dropped. Stops
//! on EOS ids (`generation_config.json`), on stop strings matched in the decoded text, or at
//! `max_gen_toks`. Also the per-sequence pieces the continuous batch shares: [`prepare`] and
//! [`push_token`].

use super::LightweightEngine;
use super::continuous::{BatchEvent, DecodeBatch};
use crate::api::{FinishReason, GenerateRequest, GenerateResult, RequestError};
use crate::sampling::Sampler;

/// One sequence being generated.
#[derive(Debug)]
pub(super) struct Seq {
    pub req: GenerateRequest,
    pub prompt: Vec<u32>,
    pub truncated: usize,
    pub sampler: Sampler,
    pub out: Vec<u32>,
    /// The final text once a stop string cut it (other endings decode `out` at the finish).
    pub text: String,
    pub finish: Option<FinishReason>,
    pub ttft: f64,
}

/// Tokenizes `req` with lm-eval truncation; `max_gen_toks == 0` gives a finished sequence.
pub(super) fn prepare(
    eng: &mut LightweightEngine,
    req: GenerateRequest,
) -> Result<Seq, RequestError> {
    if req.max_gen_toks >= eng.max_len {
        return Err(RequestError::TooLong {
            needed: req.max_gen_toks + 1,
            max: eng.max_len,
            max_gen_toks: req.max_gen_toks,
        });
    }
    let mut prompt = eng
        .tok
        .encode(&req.prompt, true)
        .map_err(RequestError::Tokenize)?;
    if prompt.is_empty() {
        prompt.push(eng.prefix_id);
    }
    // lm-eval: keep the last (max_length - max_gen_toks) prompt tokens.
    let budget = eng.max_len - req.max_gen_toks;
    let truncated = prompt.len().saturating_sub(budget);
    eng.rec.truncated(truncated);
    Ok(Seq {
        prompt: prompt[truncated..].to_vec(),
        truncated,
        sampler: Sampler::new(req.sampling),
        out: Vec::new(),
        text: String::new(),
        finish: (req.max_gen_toks == 0).then_some(FinishReason::Length),
        ttft: 0.0,
        req,
    })
}

/// Appends `tok` to `s` and settles whether it is finished.
pub(super) fn push_token(eng: &LightweightEngine, s: &mut Seq, tok: u32) {
    s.out.push(tok);
    if eng.gen_cfg.eos_token_ids.contains(&tok) {
        // The EOS id is kept in `token_ids` (as transformers' `generate` does); decoding skips it.
        s.finish = Some(FinishReason::Eos);
        return;
    }
    if !s.req.until.is_empty() {
        let text = eng.tok.decode(&s.out).unwrap_or_default();
        let cut = s
            .req
            .until
            .iter()
            .filter(|u| !u.is_empty())
            .filter_map(|u| text.find(u.as_str()))
            .min();
        if let Some(cut) = cut {
            s.text = text[..cut].to_string();
            s.finish = Some(FinishReason::Stop);
            return;
        }
    }
    if s.out.len() >= s.req.max_gen_toks {
        s.finish = Some(FinishReason::Length);
    }
}

pub(super) fn generate(
    eng: &mut LightweightEngine,
    reqs: &[GenerateRequest],
) -> Vec<Result<GenerateResult, RequestError>> {
    let mut results: Vec<Option<Result<GenerateResult, RequestError>>> = vec![None; reqs.len()];
    let mut seqs = Vec::new();
    for (idx, req) in reqs.iter().enumerate() {
        match prepare(eng, req.clone()) {
            Ok(s) => seqs.push((idx, s)),
            Err(e) => results[idx] = Some(Err(e)),
        }
    }
    // Longest first, so that each batch pads little; the batch sizes bound padded tokens.
    seqs.sort_by_key(|(_, s)| std::cmp::Reverse(s.prompt.len() + s.req.max_gen_toks));
    let lens: Vec<usize> = seqs
        .iter()
        .map(|(_, s)| s.prompt.len() + s.req.max_gen_toks)
        .collect();
    let ranges = eng.batches(&lens);
    let mut rest = seqs;
    let mut batches = Vec::new();
    for r in ranges.iter().rev() {
        batches.push(rest.split_off(r.start));
    }
    batches.reverse();
    for group in batches {
        let mut batch = DecodeBatch::new(eng);
        let group = group.into_iter().map(|(i, s)| (i, s, false)).collect();
        let mut events = eng.admit_prepared(&mut batch, group);
        while !batch.is_empty() {
            events.extend(eng.step(&mut batch));
        }
        for e in events {
            match e {
                BatchEvent::Text { .. } => {}
                BatchEvent::Finished { id, result } => results[id] = Some(Ok(result)),
                BatchEvent::Failed { id, error } => results[id] = Some(Err(error)),
            }
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(RequestError::Inference("request was not run".into()))))
        .collect()
}
