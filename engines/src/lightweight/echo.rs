//! Prompt scoring for OpenAI-style `echo` requests: every prompt token with its
//! log-probability given the tokens before it, its character offset in the prompt, and the most
//! likely alternatives. This is what a `/v1/completions` server returns for `echo: true,
//! logprobs: k`, and what a remote client sums to get a continuation's log-likelihood with the
//! server's own token boundaries.

use std::time::Instant;

use candle_core::DType as CDType;

use super::LightweightEngine;
use crate::api::RequestError;
use crate::models::{KvCache, SlotPos};
use crate::sampling::{argmax, logprob_of};
use crate::telemetry::BatchTelemetry;

/// A scored prompt: its tokens, and the greedy next token after it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredPrompt {
    pub tokens: Vec<PromptToken>,
    /// The most likely token after the prompt (`offset` = the prompt's length in characters).
    pub next: PromptToken,
}

/// One prompt token as scored by the model.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptToken {
    pub id: u32,
    /// The prompt text the token covers (the token's own string for special tokens).
    pub text: String,
    /// Offset of the token's first character in the prompt, in characters.
    pub offset: usize,
    /// `log p(token | previous tokens)`; `None` for the first token, which has no context.
    pub logprob: Option<f64>,
    /// The `k` most likely tokens at this position, `(id, text, logprob)`, best first.
    pub top: Vec<(u32, String, f64)>,
}

impl LightweightEngine {
    /// Tokenizes each prompt (with special tokens) and scores every token. Prompts longer than
    /// the model's context fail with [`RequestError::TooLong`]; nothing is truncated.
    pub fn score_prompts(
        &mut self,
        prompts: &[String],
        top_k: usize,
    ) -> Vec<Result<ScoredPrompt, RequestError>> {
        let mut results: Vec<Option<Result<ScoredPrompt, RequestError>>> =
            vec![None; prompts.len()];
        let mut items: Vec<(usize, ScoredPrompt)> = Vec::new();
        for (i, p) in prompts.iter().enumerate() {
            match self.prompt_tokens(p) {
                Err(e) => results[i] = Some(Err(e)),
                Ok(sp) if sp.tokens.len() > self.max_len => {
                    results[i] = Some(Err(RequestError::TooLong {
                        needed: sp.tokens.len(),
                        max: self.max_len,
                        max_gen_toks: 0,
                    }))
                }
                Ok(sp) => items.push((i, sp)),
            }
        }
        items.sort_by_key(|it| std::cmp::Reverse(it.1.tokens.len()));
        let lens: Vec<usize> = items.iter().map(|it| it.1.tokens.len()).collect();
        let mut rest = items;
        let mut batches = Vec::new();
        for r in self.batches(&lens).iter().rev() {
            batches.push(rest.split_off(r.start));
        }
        for mut batch in batches.into_iter().rev() {
            let start = Instant::now();
            let n = batch.len();
            match self.score_batch(&mut batch, top_k) {
                Ok(tokens) => {
                    let wall = start.elapsed().as_secs_f64();
                    self.rec.batch(BatchTelemetry {
                        kind: "echo".into(),
                        requests: n,
                        prefill_tokens: tokens,
                        prefill_s: wall,
                        decode_tokens: 0,
                        decode_s: 0.0,
                        wall_s: wall,
                        peak_rss_bytes: None,
                    });
                    for (i, sp) in batch {
                        self.rec.request(wall, wall);
                        results[i] = Some(Ok(sp));
                    }
                }
                Err(e) => {
                    for (i, _) in batch {
                        results[i] = Some(Err(RequestError::Inference(e.to_string())));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(RequestError::Inference("prompt was not scored".into()))))
            .collect()
    }

    fn prompt_tokens(&self, prompt: &str) -> Result<ScoredPrompt, RequestError> {
        let enc = self
            .tok
            .tokenizer
            .encode_char_offsets(prompt, true)
            .map_err(|e| RequestError::Tokenize(e.to_string()))?;
        let chars: Vec<char> = prompt.chars().collect();
        let mut out: Vec<PromptToken> = enc
            .get_ids()
            .iter()
            .zip(enc.get_offsets())
            .map(|(&id, &(s, e))| {
                let text = if e > s && e <= chars.len() {
                    chars[s..e].iter().collect()
                } else {
                    self.token_text(id)
                };
                PromptToken {
                    id,
                    text,
                    offset: s.min(chars.len()),
                    logprob: None,
                    top: Vec::new(),
                }
            })
            .collect();
        if out.is_empty() {
            out.push(PromptToken {
                id: self.prefix_id,
                text: self.token_text(self.prefix_id),
                offset: 0,
                logprob: None,
                top: Vec::new(),
            });
        }
        let next = PromptToken {
            id: 0,
            text: String::new(),
            offset: chars.len(),
            logprob: None,
            top: Vec::new(),
        };
        Ok(ScoredPrompt { tokens: out, next })
    }

    fn token_text(&self, id: u32) -> String {
        self.tok
            .tokenizer
            .decode(&[id], false)
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| self.tok.tokenizer.id_to_token(id))
            .unwrap_or_default()
    }

    /// Scores one batch in place; returns the number of tokens run through the model.
    fn score_batch(
        &self,
        batch: &mut [(usize, ScoredPrompt)],
        top_k: usize,
    ) -> candle_core::Result<usize> {
        let t = batch.iter().map(|b| b.1.tokens.len()).max().unwrap_or(0);
        let mut ids = Vec::new();
        let mut pos = Vec::new();
        let mut want = Vec::new();
        for (r, (_, sp)) in batch.iter().enumerate() {
            let mut row: Vec<u32> = sp.tokens.iter().map(|t| t.id).collect();
            let n = row.len();
            row.resize(t, self.pad_id);
            ids.push(row);
            pos.push(
                (0..t)
                    .map(|i| (i < n).then_some(i as u32))
                    .collect::<Vec<SlotPos>>(),
            );
            want.extend((0..n).map(|c| (r, c)));
        }
        if want.is_empty() {
            return Ok(0);
        }
        let mut cache = KvCache::new(self.model.spec().num_layers);
        let mut layout = vec![Vec::new(); batch.len()];
        let hidden = self.prefill(&mut cache, &mut layout, &ids, &pos, &want)?;
        let block = 256;
        let mut s = 0;
        while s < want.len() {
            let len = block.min(want.len() - s);
            let logits = self
                .model
                .lm_head(&hidden.narrow(0, s, len)?)?
                .to_dtype(CDType::F32)?
                .to_vec2::<f32>()?;
            for (row, &(r, c)) in logits.iter().zip(&want[s..s + len]) {
                let sp = &mut batch[r].1;
                let top: Vec<(u32, String, f64)> = top_logprobs(row, top_k.max(1))
                    .into_iter()
                    .map(|(id, lp)| (id, self.token_text(id), lp))
                    .collect();
                let next = if c + 1 < sp.tokens.len() {
                    &mut sp.tokens[c + 1]
                } else {
                    let best = argmax(row);
                    sp.next.id = best;
                    sp.next.text = self.token_text(best);
                    &mut sp.next
                };
                next.logprob = Some(logprob_of(row, next.id).0);
                next.top = top.into_iter().take(top_k).collect();
            }
            s += len;
        }
        Ok(batch.iter().map(|b| b.1.tokens.len()).sum())
    }
}

/// The `k` highest log-probabilities of `logits`, best first (ties: lower id first).
pub fn top_logprobs(logits: &[f32], k: usize) -> Vec<(u32, f64)> {
    if k == 0 || logits.is_empty() {
        return Vec::new();
    }
    let mut best: Vec<u32> = Vec::with_capacity(k + 1);
    for i in 0..logits.len() as u32 {
        let x = logits[i as usize];
        let at = best.partition_point(|&b| logits[b as usize] >= x);
        if at < k {
            best.insert(at, i);
            best.truncate(k);
        }
    }
    best.into_iter()
        .map(|id| (id, logprob_of(logits, id).0))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::top_logprobs;

    #[test]
    fn top_logprobs_orders_best_first_and_keeps_first_of_ties() {
        let l = [0.0f32, 3.0, 1.0, 3.0, -2.0];
        let top = top_logprobs(&l, 3);
        let ids: Vec<u32> = top.iter().map(|t| t.0).collect();
        assert_eq!(ids, vec![1, 3, 2]);
        assert!(top[0].1 > top[2].1);
        let total: f64 = l.iter().map(|&x| (x as f64).exp()).sum();
        assert!((top[0].1 - (3.0 - total.ln())).abs() < 1e-9);
        assert!(top_logprobs(&l, 0).is_empty());
    }
}
