//! Generation: left-padded batched prefill, then token-by-token decoding on the KV cache, with
//! finished sequences dropped from the batch. Stops on EOS ids (`generation_config.json`), on
//! stop strings matched in the decoded text, or at `max_gen_toks`.

use std::time::Instant;

use candle_core::Tensor;

use super::{LightweightEngine, timing};
use crate::api::{FinishReason, GenerateRequest, GenerateResult, RequestError};
use crate::models::{KvCache, SlotPos, build_step};
use crate::sampling::Sampler;
use crate::telemetry::BatchTelemetry;

struct Seq<'a> {
    idx: usize,
    req: &'a GenerateRequest,
    prompt: Vec<u32>,
    truncated: usize,
    sampler: Sampler,
    out: Vec<u32>,
    text: String,
    finish: Option<FinishReason>,
    ttft: f64,
}

pub(super) fn generate(
    eng: &mut LightweightEngine,
    reqs: &[GenerateRequest],
) -> Vec<Result<GenerateResult, RequestError>> {
    let mut results: Vec<Option<Result<GenerateResult, RequestError>>> = vec![None; reqs.len()];
    let mut seqs = Vec::new();
    for (idx, req) in reqs.iter().enumerate() {
        if req.max_gen_toks >= eng.max_len {
            results[idx] = Some(Err(RequestError::TooLong {
                needed: req.max_gen_toks + 1,
                max: eng.max_len,
                max_gen_toks: req.max_gen_toks,
            }));
            continue;
        }
        let mut prompt = match eng.tok.encode(&req.prompt, true) {
            Ok(p) => p,
            Err(e) => {
                results[idx] = Some(Err(RequestError::Tokenize(e)));
                continue;
            }
        };
        if prompt.is_empty() {
            prompt.push(eng.prefix_id);
        }
        // lm-eval: keep the last (max_length - max_gen_toks) prompt tokens.
        let budget = eng.max_len - req.max_gen_toks;
        let truncated = prompt.len().saturating_sub(budget);
        eng.rec.truncated(truncated);
        seqs.push(Seq {
            idx,
            req,
            prompt: prompt[truncated..].to_vec(),
            truncated,
            sampler: Sampler::new(req.sampling),
            out: Vec::new(),
            text: String::new(),
            finish: (req.max_gen_toks == 0).then_some(FinishReason::Length),
            ttft: 0.0,
        });
    }
    seqs.sort_by_key(|s| std::cmp::Reverse(s.prompt.len() + s.req.max_gen_toks));
    let lens: Vec<usize> = seqs
        .iter()
        .map(|s| s.prompt.len() + s.req.max_gen_toks)
        .collect();
    let ranges = eng.batches(&lens);
    let mut rest = seqs;
    let mut batches = Vec::new();
    for r in ranges.iter().rev() {
        batches.push(rest.split_off(r.start));
    }
    batches.reverse();
    for mut batch in batches {
        let start = Instant::now();
        let n = batch.len();
        if let Err(e) = run_batch(eng, &mut batch, start) {
            for s in &batch {
                results[s.idx] = Some(Err(RequestError::Inference(e.to_string())));
            }
            continue;
        }
        for s in batch {
            let t = timing(start, s.ttft, n);
            eng.rec.request(t.ttft_s, t.latency_s);
            results[s.idx] = Some(Ok(GenerateResult {
                text: s.text,
                token_ids: s.out,
                finish_reason: s.finish.unwrap_or(FinishReason::Length),
                prompt_tokens: s.prompt.len(),
                prompt_tokens_truncated: s.truncated,
                timing: t,
            }));
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(RequestError::Inference("request was not run".into()))))
        .collect()
}

/// Appends `tok` to `s` and settles whether it is finished.
fn push_token(eng: &LightweightEngine, s: &mut Seq, tok: u32) {
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

fn run_batch(
    eng: &mut LightweightEngine,
    batch: &mut [Seq],
    start: Instant,
) -> candle_core::Result<()> {
    let active0: Vec<usize> = (0..batch.len())
        .filter(|&i| batch[i].finish.is_none())
        .collect();
    if active0.is_empty() {
        return Ok(());
    }
    // Prefill, left-padded so every row's last prompt token is in the last column.
    let t = active0
        .iter()
        .map(|&i| batch[i].prompt.len())
        .max()
        .unwrap_or(1);
    let mut ids = Vec::new();
    let mut pos = Vec::new();
    for &i in &active0 {
        let p = &batch[i].prompt;
        let pad = t - p.len();
        ids.push(
            std::iter::repeat_n(eng.pad_id, pad)
                .chain(p.iter().copied())
                .collect::<Vec<u32>>(),
        );
        pos.push(
            std::iter::repeat_n(None, pad)
                .chain((0..p.len() as u32).map(Some))
                .collect::<Vec<SlotPos>>(),
        );
    }
    let mut cache = KvCache::new(eng.model.spec().num_layers);
    let mut layout: Vec<Vec<SlotPos>> = vec![Vec::new(); active0.len()];
    let want: Vec<(usize, usize)> = (0..active0.len()).map(|r| (r, t - 1)).collect();
    let hidden = eng.prefill(&mut cache, &mut layout, &ids, &pos, &want)?;
    let logits = eng.logits_rows(&hidden)?;
    let prefill_s = start.elapsed().as_secs_f64();
    for (r, &i) in active0.iter().enumerate() {
        let tok = batch[i].sampler.next(&logits[r]);
        batch[i].ttft = prefill_s;
        push_token(eng, &mut batch[i], tok);
    }
    let prefill_tokens = active0.iter().map(|&i| batch[i].prompt.len()).sum();

    // Decode: `rows[r]` is the batch index held in cache row r.
    let decode_start = Instant::now();
    let mut decode_tokens = 0;
    let mut rows = active0;
    loop {
        let keep: Vec<usize> = (0..rows.len())
            .filter(|&r| batch[rows[r]].finish.is_none())
            .collect();
        if keep.is_empty() {
            break;
        }
        if keep.len() < rows.len() {
            let sel: Vec<u32> = keep.iter().map(|&r| r as u32).collect();
            cache = cache.select(&sel)?;
            layout = keep.iter().map(|&r| layout[r].clone()).collect();
            rows = keep.iter().map(|&r| rows[r]).collect();
        }
        let mut toks = Vec::with_capacity(rows.len());
        let mut new_pos = Vec::with_capacity(rows.len());
        for &i in &rows {
            let s = &batch[i];
            toks.push(*s.out.last().unwrap_or(&eng.pad_id));
            new_pos.push(vec![Some((s.prompt.len() + s.out.len() - 1) as u32)]);
        }
        let input = Tensor::from_vec(toks, (rows.len(), 1), &eng.device)?;
        let step = build_step(
            &layout,
            &new_pos,
            eng.model.spec().sliding_window,
            &eng.device,
        )?;
        let hidden = eng.model.forward(&input, &step, &mut cache)?;
        for (row, p) in layout.iter_mut().zip(new_pos) {
            row.extend(p);
        }
        let logits = eng.logits_rows(&hidden.squeeze(1)?)?;
        decode_tokens += rows.len();
        for (r, &i) in rows.iter().enumerate() {
            let tok = batch[i].sampler.next(&logits[r]);
            push_token(eng, &mut batch[i], tok);
        }
    }
    for s in batch.iter_mut() {
        if s.finish != Some(FinishReason::Stop) {
            s.text = eng.tok.decode(&s.out).unwrap_or_default();
        }
    }
    eng.rec.batch(BatchTelemetry {
        kind: "generate".into(),
        requests: batch.len(),
        prefill_tokens,
        prefill_s,
        decode_tokens,
        decode_s: decode_start.elapsed().as_secs_f64(),
        wall_s: start.elapsed().as_secs_f64(),
        peak_rss_bytes: None,
    });
    Ok(())
}
