//! Loglikelihood scoring: per-request tokenization and truncation, then either one forward
//! pass per (context + continuation) row, or, for continuations that share a context, one
//! prefill of the context whose KV cache each continuation is scored from.

use std::collections::HashMap;
use std::time::Instant;

use candle_core::Tensor;

use super::{LightweightEngine, Scored, timing};
use crate::api::{LoglikelihoodRequest, LoglikelihoodResult, RequestError};
use crate::models::{KvCache, SlotPos};
use crate::telemetry::BatchTelemetry;

type Slot = Option<Result<LoglikelihoodResult, RequestError>>;

pub(super) fn loglikelihood(
    eng: &mut LightweightEngine,
    reqs: &[LoglikelihoodRequest],
) -> Vec<Result<LoglikelihoodResult, RequestError>> {
    let mut results: Vec<Slot> = vec![None; reqs.len()];
    let mut items = Vec::new();
    for (i, r) in reqs.iter().enumerate() {
        match eng.encode_pair(&r.context, &r.continuation) {
            Err(e) => results[i] = Some(Err(e)),
            Ok((_, cont)) if cont.len() > eng.max_len => {
                results[i] = Some(Err(RequestError::TooLong {
                    needed: cont.len(),
                    max: eng.max_len,
                    max_gen_toks: 0,
                }))
            }
            Ok((ctx, cont)) => {
                // lm-eval: (context + continuation)[-(max_len + 1):][:-1]
                let trunc = (ctx.len() + cont.len()).saturating_sub(eng.max_len + 1);
                eng.rec.truncated(trunc);
                items.push(Scored {
                    idx: i,
                    ctx: ctx[trunc..].to_vec(),
                    cont,
                    truncated: trunc,
                });
            }
        }
    }
    let mut singles = Vec::new();
    let mut groups: Vec<Vec<Scored>> = Vec::new();
    if eng.opts.context_reuse {
        let mut by_ctx: HashMap<Vec<u32>, usize> = HashMap::new();
        for it in items {
            match by_ctx.get(&it.ctx) {
                Some(&g) => groups[g].push(it),
                None => {
                    by_ctx.insert(it.ctx.clone(), groups.len());
                    groups.push(vec![it]);
                }
            }
        }
        for g in std::mem::take(&mut groups) {
            if g.len() >= 2 {
                groups.push(g);
            } else {
                singles.extend(g);
            }
        }
    } else {
        singles = items;
    }
    run_plain(eng, singles, &mut results);
    run_shared(eng, groups, &mut results);
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or(Err(RequestError::Inference(
                "request was not scored".into(),
            )))
        })
        .collect()
}

fn finish(
    eng: &mut LightweightEngine,
    results: &mut [Slot],
    it: &Scored,
    scores: &[(f64, bool)],
    start: Instant,
    batch_size: usize,
) {
    let t = timing(start, start.elapsed().as_secs_f64(), batch_size);
    eng.rec.request(t.ttft_s, t.latency_s);
    results[it.idx] = Some(Ok(LoglikelihoodResult {
        logprob: scores.iter().map(|s| s.0).sum(),
        is_greedy: scores.iter().all(|s| s.1),
        continuation_tokens: it.cont.len(),
        context_tokens_truncated: it.truncated,
        timing: t,
    }));
}

fn fail(results: &mut [Slot], items: &[&Scored], e: candle_core::Error) {
    for it in items {
        results[it.idx] = Some(Err(RequestError::Inference(e.to_string())));
    }
}

/// Each request in its own row: `ctx + cont[..-1]`, right-padded, scored at the continuation
/// positions.
fn run_plain(eng: &mut LightweightEngine, mut items: Vec<Scored>, results: &mut [Slot]) {
    let input_len = |it: &Scored| it.ctx.len() + it.cont.len() - 1;
    items.sort_by_key(|it| std::cmp::Reverse(input_len(it)));
    let lens: Vec<usize> = items.iter().map(input_len).collect();
    for range in eng.batches(&lens) {
        let batch: Vec<&Scored> = items[range].iter().collect();
        let start = Instant::now();
        let t = batch.iter().map(|it| input_len(it)).max().unwrap_or(0);
        let mut ids = Vec::new();
        let mut pos = Vec::new();
        let mut want = Vec::new();
        let mut targets = Vec::new();
        for (r, it) in batch.iter().enumerate() {
            let mut row: Vec<u32> = it
                .ctx
                .iter()
                .chain(&it.cont[..it.cont.len() - 1])
                .copied()
                .collect();
            let n = row.len();
            row.resize(t, eng.pad_id);
            ids.push(row);
            pos.push(
                (0..t)
                    .map(|i| (i < n).then_some(i as u32))
                    .collect::<Vec<SlotPos>>(),
            );
            for (j, &tok) in it.cont.iter().enumerate() {
                want.push((r, it.ctx.len() - 1 + j));
                targets.push(tok);
            }
        }
        let mut cache = KvCache::new(eng.model.spec().num_layers);
        let mut layout = vec![Vec::new(); batch.len()];
        let scored = eng
            .prefill(&mut cache, &mut layout, &ids, &pos, &want)
            .and_then(|h| eng.score_rows(&h, &targets));
        let prefill_s = start.elapsed().as_secs_f64();
        match scored {
            Err(e) => fail(results, &batch, e),
            Ok(scores) => {
                let mut off = 0;
                for it in &batch {
                    let n = it.cont.len();
                    finish(eng, results, it, &scores[off..off + n], start, batch.len());
                    off += n;
                }
            }
        }
        eng.rec.batch(BatchTelemetry {
            kind: "loglikelihood".into(),
            requests: batch.len(),
            prefill_tokens: lens_sum(&batch, input_len),
            prefill_s,
            decode_tokens: 0,
            decode_s: 0.0,
            wall_s: start.elapsed().as_secs_f64(),
            peak_rss_bytes: None,
        });
    }
}

fn lens_sum(batch: &[&Scored], f: impl Fn(&Scored) -> usize) -> usize {
    batch.iter().map(|it| f(it)).sum()
}

/// Groups of requests with one context: the contexts of a batch of groups are prefilled once
/// (left-padded); each continuation then runs on a copy of its context's cache rows.
fn run_shared(eng: &mut LightweightEngine, mut groups: Vec<Vec<Scored>>, results: &mut [Slot]) {
    groups.sort_by_key(|g| std::cmp::Reverse(g[0].ctx.len()));
    let lens: Vec<usize> = groups.iter().map(|g| g[0].ctx.len()).collect();
    for range in eng.batches(&lens) {
        let batch = &groups[range];
        let start = Instant::now();
        let all: Vec<&Scored> = batch.iter().flatten().collect();
        match score_group_batch(eng, batch) {
            Err(e) => fail(results, &all, e),
            Ok((scores, prefill_tokens)) => {
                for (it, s) in all.iter().zip(&scores) {
                    finish(eng, results, it, s, start, all.len());
                }
                eng.rec.totals.reused_context_requests += all.len();
                eng.rec.batch(BatchTelemetry {
                    kind: "loglikelihood".into(),
                    requests: all.len(),
                    prefill_tokens,
                    prefill_s: start.elapsed().as_secs_f64(),
                    decode_tokens: 0,
                    decode_s: 0.0,
                    wall_s: start.elapsed().as_secs_f64(),
                    peak_rss_bytes: None,
                });
            }
        }
    }
}

/// Per continuation token: its log-probability and whether it was the greedy choice.
type TokenScores = Vec<(f64, bool)>;

/// Scores every continuation of `groups`; returns per-request token scores (flattened group
/// order) and the number of tokens run through the model.
fn score_group_batch(
    eng: &LightweightEngine,
    groups: &[Vec<Scored>],
) -> candle_core::Result<(Vec<TokenScores>, usize)> {
    let t = groups.iter().map(|g| g[0].ctx.len()).max().unwrap_or(0);
    let mut ids = Vec::new();
    let mut pos = Vec::new();
    for g in groups {
        let ctx = &g[0].ctx;
        let pad = t - ctx.len();
        ids.push(
            std::iter::repeat_n(eng.pad_id, pad)
                .chain(ctx.iter().copied())
                .collect::<Vec<u32>>(),
        );
        pos.push(
            std::iter::repeat_n(None, pad)
                .chain((0..ctx.len() as u32).map(Some))
                .collect::<Vec<SlotPos>>(),
        );
    }
    let mut cache = KvCache::new(eng.model.spec().num_layers);
    let mut layout = vec![Vec::new(); groups.len()];
    let want: Vec<(usize, usize)> = (0..groups.len()).map(|r| (r, t - 1)).collect();
    let last = eng.prefill(&mut cache, &mut layout, &ids, &pos, &want)?;
    let last_logits = eng.logits_rows(&last)?;
    let mut tokens: usize = groups.iter().map(|g| g[0].ctx.len()).sum();

    // First continuation token of each request, from its context's last position.
    let mut scores: Vec<Vec<(f64, bool)>> = Vec::new();
    let mut rows = Vec::new(); // (group row, request flat index, continuation)
    for (g, group) in groups.iter().enumerate() {
        for it in group {
            scores.push(vec![crate::sampling::logprob_of(
                &last_logits[g],
                it.cont[0],
            )]);
            if it.cont.len() > 1 {
                rows.push((g, scores.len() - 1, &it.cont));
            }
        }
    }
    // Remaining continuation tokens, a sub-batch of rows at a time.
    rows.sort_by_key(|r| std::cmp::Reverse(r.2.len()));
    let lens: Vec<usize> = rows.iter().map(|r| r.2.len() - 1).collect();
    for range in eng.batches(&lens) {
        let sub = &rows[range];
        let m = sub.iter().map(|r| r.2.len() - 1).max().unwrap_or(0);
        let sel: Vec<u32> = sub.iter().map(|r| r.0 as u32).collect();
        let mut sub_cache: KvCache = cache.select(&sel)?;
        let mut sub_layout: Vec<Vec<SlotPos>> = sub.iter().map(|r| layout[r.0].clone()).collect();
        let mut ids = Vec::new();
        let mut pos = Vec::new();
        let mut want = Vec::new();
        let mut targets = Vec::new();
        for (r, (g, _, cont)) in sub.iter().enumerate() {
            let ctx_len = groups[*g][0].ctx.len() as u32;
            let n = cont.len() - 1;
            let mut row = cont[..n].to_vec();
            row.resize(m, eng.pad_id);
            ids.push(row);
            pos.push(
                (0..m)
                    .map(|j| (j < n).then_some(ctx_len + j as u32))
                    .collect::<Vec<SlotPos>>(),
            );
            for j in 0..n {
                want.push((r, j));
                targets.push(cont[j + 1]);
            }
            tokens += n;
        }
        let hidden: Tensor = eng.prefill(&mut sub_cache, &mut sub_layout, &ids, &pos, &want)?;
        let s = eng.score_rows(&hidden, &targets)?;
        let mut off = 0;
        for (_, flat, cont) in sub {
            let n = cont.len() - 1;
            scores[*flat].extend_from_slice(&s[off..off + n]);
            off += n;
        }
    }
    Ok((scores, tokens))
}
