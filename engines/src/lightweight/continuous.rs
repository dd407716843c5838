//! Continuous batching: a [`DecodeBatch`] of live sequences that decode one token per
//! [`LightweightEngine::step`], which new requests join between steps
//! ([`LightweightEngine::admit`]) and leave when they finish or are cancelled
//! ([`LightweightEngine::cancel`]).
//!
//! Newcomers are prefilled as their own left-padded batch; their KV cache is then merged into
//! the running one along the batch dimension, the cache with fewer slots left-padded with zero
//! keys and values whose layout slots are `None` (masked by [`build_step`]). Every row keeps its
//! own rotary positions, so a sequence's tokens do not depend on what it is batched with.
//! Slots that no remaining row attends to (leading padding) are trimmed as rows leave, which
//! bounds the cache by the oldest live row rather than by the batch's age.
//!
//! Streaming rows report text deltas, decoded incrementally: each step decodes a short window
//! of tokens twice (from the previous read position, with and without the new tokens) and takes
//! the difference, so SentencePiece spaces and multi-byte characters come out as the full decode
//! gives them without re-decoding the whole output. A window whose text ends in U+FFFD (a
//! character whose bytes are still coming) or in byte-fallback tokens (decoded as one group)
//! waits for more tokens, and any tail that could still begin a stop string is held back, so
//! the concatenated deltas equal the final text.

use std::time::Instant;

use candle_core::Tensor;

use super::LightweightEngine;
use super::generate::{Seq, prepare, push_token};
use crate::api::{FinishReason, GenerateRequest, GenerateResult, RequestError, RequestTiming};
use crate::models::{KvCache, SlotPos, build_step};
use crate::telemetry::BatchTelemetry;

/// A request joining a [`DecodeBatch`], under the caller's `id`.
#[derive(Debug, Clone)]
pub struct Admission<K> {
    pub id: K,
    pub request: GenerateRequest,
    /// Report [`BatchEvent::Text`] deltas as tokens are generated.
    pub stream: bool,
}

/// What happened to one sequence in an admission or a step.
#[derive(Debug)]
pub enum BatchEvent<K> {
    /// New text of a streaming sequence (never empty).
    Text { id: K, delta: String },
    /// The sequence ended and left the batch.
    Finished { id: K, result: GenerateResult },
    /// The sequence could not run and left the batch.
    Failed { id: K, error: RequestError },
}

/// Live sequences sharing one KV cache; row `r` of the cache belongs to `rows[r]`.
#[derive(Debug)]
pub struct DecodeBatch<K> {
    cache: KvCache,
    layout: Vec<Vec<SlotPos>>,
    rows: Vec<Row<K>>,
    num_layers: usize,
    run: RunStats,
}

#[derive(Debug)]
struct Row<K> {
    id: K,
    seq: Seq,
    start: Instant,
    stream: bool,
    /// Text already reported as deltas.
    sent: String,
    /// Decoded text not yet reported (it could begin a stop string).
    held: String,
    /// Incremental decoding window: tokens `prefix_off..read_off` were decoded last time.
    prefix_off: usize,
    read_off: usize,
    /// Live rows right after this one joined.
    batch_size: usize,
}

/// Counters for the telemetry record of one busy period (from first admission to empty).
#[derive(Debug, Default)]
struct RunStats {
    start: Option<Instant>,
    requests: usize,
    prefill_tokens: usize,
    prefill_s: f64,
    decode_tokens: usize,
    decode_s: f64,
}

impl<K> DecodeBatch<K> {
    /// An empty batch for `eng`'s model.
    pub fn new(eng: &LightweightEngine) -> Self {
        let num_layers = eng.model.spec().num_layers;
        DecodeBatch {
            cache: KvCache::new(num_layers),
            layout: Vec::new(),
            rows: Vec::new(),
            num_layers,
            run: RunStats::default(),
        }
    }

    /// Live sequences.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The ids of the live sequences, in cache-row order.
    pub fn ids(&self) -> impl Iterator<Item = &K> {
        self.rows.iter().map(|r| &r.id)
    }

    /// Cache slots per row (live rows' tokens plus padding).
    pub fn slots(&self) -> usize {
        self.layout.first().map_or(0, Vec::len)
    }
}

impl LightweightEngine {
    /// Tokenizes `new` and joins it to `batch`: newcomers are prefilled together and each gets
    /// its first token. Returns the newcomers' events (running rows are untouched): failures
    /// (too long, tokenizer, inference), first-token deltas, and sequences that their first
    /// token already finished.
    pub fn admit<K: Clone>(
        &mut self,
        batch: &mut DecodeBatch<K>,
        new: Vec<Admission<K>>,
    ) -> Vec<BatchEvent<K>> {
        let mut events = Vec::new();
        let mut ready = Vec::new();
        for a in new {
            match prepare(self, a.request) {
                Ok(seq) => ready.push((a.id, seq, a.stream)),
                Err(error) => events.push(BatchEvent::Failed { id: a.id, error }),
            }
        }
        events.extend(self.admit_prepared(batch, ready));
        events
    }

    /// [`LightweightEngine::admit`] for sequences already tokenized.
    pub(super) fn admit_prepared<K: Clone>(
        &mut self,
        batch: &mut DecodeBatch<K>,
        new: Vec<(K, Seq, bool)>,
    ) -> Vec<BatchEvent<K>> {
        let mut events = Vec::new();
        if new.is_empty() {
            return events;
        }
        let start = Instant::now();
        batch.run.start.get_or_insert(start);
        batch.run.requests += new.len();
        let mut fresh = Vec::with_capacity(new.len());
        for (id, seq, stream) in new {
            let row = Row {
                id,
                seq,
                start,
                stream,
                sent: String::new(),
                held: String::new(),
                prefix_off: 0,
                read_off: 0,
                batch_size: 1,
            };
            // `max_gen_toks == 0`: finished before any token, no prefill.
            if row.seq.finish.is_some() {
                self.finish(row, &mut events);
            } else {
                fresh.push(row);
            }
        }
        if !fresh.is_empty() {
            match self.prefill_rows(&mut fresh) {
                Ok((cache, layout)) => match batch.cache.concat_rows(&cache) {
                    Ok(cache) => {
                        batch.run.prefill_tokens +=
                            fresh.iter().map(|r| r.seq.prompt.len()).sum::<usize>();
                        batch.run.prefill_s += start.elapsed().as_secs_f64();
                        join(batch, cache, layout, fresh);
                    }
                    Err(e) => fail_rows(fresh, &e.to_string(), &mut events),
                },
                Err(e) => fail_rows(fresh, &e.to_string(), &mut events),
            }
        }
        self.settle(batch, &mut events);
        events
    }

    /// Decodes one token for every live sequence; returns deltas of streaming sequences and
    /// the sequences that finished. An inference error fails (and drops) every live sequence.
    pub fn step<K: Clone>(&mut self, batch: &mut DecodeBatch<K>) -> Vec<BatchEvent<K>> {
        let mut events = Vec::new();
        if batch.rows.is_empty() {
            return events;
        }
        let t0 = Instant::now();
        match self.decode_one(batch) {
            Ok(()) => batch.run.decode_tokens += batch.rows.len(),
            Err(e) => fail_all(batch, &e.to_string(), &mut events),
        }
        batch.run.decode_s += t0.elapsed().as_secs_f64();
        self.settle(batch, &mut events);
        events
    }

    /// Drops the sequence `id` from `batch` (a client that went away); the others continue
    /// unchanged. Returns whether `id` was live, and the failures of the other sequences if
    /// the cache could not be cut (an inference error).
    pub fn cancel<K: Clone + PartialEq>(
        &mut self,
        batch: &mut DecodeBatch<K>,
        id: &K,
    ) -> (bool, Vec<BatchEvent<K>>) {
        let mut events = Vec::new();
        let Some(r) = batch.rows.iter().position(|row| &row.id == id) else {
            return (false, events);
        };
        let keep: Vec<usize> = (0..batch.rows.len()).filter(|&i| i != r).collect();
        batch.rows.remove(r);
        if let Err(e) = keep_rows(batch, &keep) {
            fail_all(batch, &e.to_string(), &mut events);
        }
        self.settle(batch, &mut events);
        (true, events)
    }

    /// Prefills `rows` as one left-padded batch (every row's last prompt token in the last
    /// column), samples each row's first token, and returns the new cache and slot layout.
    fn prefill_rows<K>(
        &mut self,
        rows: &mut [Row<K>],
    ) -> candle_core::Result<(KvCache, Vec<Vec<SlotPos>>)> {
        let t = rows.iter().map(|r| r.seq.prompt.len()).max().unwrap_or(1);
        let mut ids = Vec::with_capacity(rows.len());
        let mut pos = Vec::with_capacity(rows.len());
        for r in rows.iter() {
            let p = &r.seq.prompt;
            let pad = t - p.len();
            ids.push(
                std::iter::repeat_n(self.pad_id, pad)
                    .chain(p.iter().copied())
                    .collect::<Vec<u32>>(),
            );
            pos.push(
                std::iter::repeat_n(None, pad)
                    .chain((0..p.len() as u32).map(Some))
                    .collect::<Vec<SlotPos>>(),
            );
        }
        let mut cache = KvCache::new(self.model.spec().num_layers);
        let mut layout: Vec<Vec<SlotPos>> = vec![Vec::new(); rows.len()];
        let want: Vec<(usize, usize)> = (0..rows.len()).map(|r| (r, t - 1)).collect();
        let hidden = self.prefill(&mut cache, &mut layout, &ids, &pos, &want)?;
        let logits = self.logits_rows(&hidden)?;
        for (row, l) in rows.iter_mut().zip(&logits) {
            let tok = row.seq.sampler.next(l);
            row.seq.ttft = row.start.elapsed().as_secs_f64();
            push_token(self, &mut row.seq, tok);
        }
        Ok((cache, layout))
    }

    /// Feeds every row's last token through the model and samples the next one.
    fn decode_one<K>(&mut self, batch: &mut DecodeBatch<K>) -> candle_core::Result<()> {
        let mut toks = Vec::with_capacity(batch.rows.len());
        let mut new_pos = Vec::with_capacity(batch.rows.len());
        for r in &batch.rows {
            let s = &r.seq;
            toks.push(*s.out.last().unwrap_or(&self.pad_id));
            new_pos.push(vec![Some((s.prompt.len() + s.out.len() - 1) as u32)]);
        }
        let input = Tensor::from_vec(toks, (batch.rows.len(), 1), &self.device)?;
        let step = build_step(
            &batch.layout,
            &new_pos,
            self.model.spec().sliding_window,
            &self.device,
        )?;
        let hidden = self.model.forward(&input, &step, &mut batch.cache)?;
        for (row, p) in batch.layout.iter_mut().zip(new_pos) {
            row.extend(p);
        }
        let logits = self.logits_rows(&hidden.squeeze(1)?)?;
        for (row, l) in batch.rows.iter_mut().zip(&logits) {
            let tok = row.seq.sampler.next(l);
            push_token(self, &mut row.seq, tok);
        }
        Ok(())
    }

    /// Reports deltas of streaming rows, removes finished rows (with their results), trims
    /// unused leading slots, and closes the busy period's telemetry when the batch empties.
    fn settle<K: Clone>(&mut self, batch: &mut DecodeBatch<K>, events: &mut Vec<BatchEvent<K>>) {
        let mut keep = Vec::with_capacity(batch.rows.len());
        for (i, row) in batch.rows.iter_mut().enumerate() {
            if row.seq.finish.is_some() {
                continue;
            }
            keep.push(i);
            if row.stream
                && let Some(delta) = self.delta(row)
            {
                events.push(BatchEvent::Text {
                    id: row.id.clone(),
                    delta,
                });
            }
        }
        if keep.len() < batch.rows.len() {
            let rows = std::mem::take(&mut batch.rows);
            let cut = keep_rows(batch, &keep);
            let mut kept = Vec::with_capacity(keep.len());
            for row in rows {
                if row.seq.finish.is_some() {
                    self.finish(row, events);
                } else {
                    kept.push(row);
                }
            }
            batch.rows = kept;
            if let Err(e) = cut {
                fail_all(batch, &e.to_string(), events);
            }
        }
        if batch.rows.is_empty() {
            batch.layout.clear();
            batch.cache = KvCache::new(batch.num_layers);
            if let Some(start) = batch.run.start.take() {
                let run = std::mem::take(&mut batch.run);
                self.rec.batch(BatchTelemetry {
                    kind: "generate".into(),
                    requests: run.requests,
                    prefill_tokens: run.prefill_tokens,
                    prefill_s: run.prefill_s,
                    decode_tokens: run.decode_tokens,
                    decode_s: run.decode_s,
                    wall_s: start.elapsed().as_secs_f64(),
                    peak_rss_bytes: None,
                });
            }
        }
    }

    /// The text of `row` not yet sent that can no longer change, if any.
    fn delta<K>(&self, row: &mut Row<K>) -> Option<String> {
        let out = &row.seq.out;
        // A run of byte-fallback tokens (`<0xE6>`) decodes as one group, all U+FFFD when the
        // group is not valid UTF-8, so a later byte can change earlier text: such a run is
        // decoded only once a token of another kind closes it.
        let closed = out.len()
            - out
                .iter()
                .rev()
                .take_while(|&&t| self.is_byte_token(t))
                .count();
        if closed > row.read_off {
            let before = self.tok.decode(&out[row.prefix_off..row.read_off]).ok()?;
            let now = self.tok.decode(&out[row.prefix_off..closed]).ok()?;
            if now.len() > before.len() && now.starts_with(&before) && !now.ends_with('\u{fffd}') {
                row.held.push_str(&now[before.len()..]);
                row.prefix_off = row.read_off;
                row.read_off = closed;
            }
        }
        let end = stable_end(&row.held, &row.seq.req.until);
        if end == 0 {
            return None;
        }
        let delta: String = row.held.drain(..end).collect();
        row.sent.push_str(&delta);
        Some(delta)
    }

    /// Whether `id` is a SentencePiece byte-fallback token (`<0x00>` to `<0xFF>`).
    fn is_byte_token(&self, id: u32) -> bool {
        self.tok
            .tokenizer
            .id_to_token(id)
            .is_some_and(|t| t.len() == 6 && t.starts_with("<0x") && t.ends_with('>'))
    }

    /// Pushes the events of a finished row: a streaming row's last delta (the final text
    /// beyond what was sent), then its result.
    fn finish<K: Clone>(&mut self, row: Row<K>, events: &mut Vec<BatchEvent<K>>) {
        let mut seq = row.seq;
        if seq.finish != Some(FinishReason::Stop) {
            seq.text = self.tok.decode(&seq.out).unwrap_or_default();
        }
        if row.stream
            && let Some(rest) = seq.text.strip_prefix(row.sent.as_str())
            && !rest.is_empty()
        {
            events.push(BatchEvent::Text {
                id: row.id.clone(),
                delta: rest.to_string(),
            });
        }
        let timing = RequestTiming {
            latency_s: row.start.elapsed().as_secs_f64(),
            ttft_s: seq.ttft,
            batch_size: row.batch_size,
        };
        self.rec.request(timing.ttft_s, timing.latency_s);
        events.push(BatchEvent::Finished {
            id: row.id,
            result: GenerateResult {
                text: seq.text,
                token_ids: seq.out,
                finish_reason: seq.finish.unwrap_or(FinishReason::Length),
                prompt_tokens: seq.prompt.len(),
                prompt_tokens_truncated: seq.truncated,
                timing,
            },
        });
    }
}

/// Keeps the cache and layout rows `keep` (ascending; `batch.rows` is the caller's to cut),
/// then drops leading slots that no kept row uses.
fn keep_rows<K>(batch: &mut DecodeBatch<K>, keep: &[usize]) -> candle_core::Result<()> {
    let layout: Vec<Vec<SlotPos>> = keep
        .iter()
        .map(|&i| std::mem::take(&mut batch.layout[i]))
        .collect();
    let unused = layout
        .iter()
        .map(|r| r.iter().take_while(|p| p.is_none()).count())
        .min()
        .unwrap_or(0);
    batch.layout = layout
        .into_iter()
        .map(|mut r| {
            r.drain(..unused);
            r
        })
        .collect();
    batch.cache = if keep.is_empty() {
        KvCache::new(batch.num_layers)
    } else {
        let sel: Vec<u32> = keep.iter().map(|&i| i as u32).collect();
        batch.cache.select(&sel)?.trim_front(unused)?
    };
    Ok(())
}

/// Appends prefilled `rows` (with their merged `cache` and own `layout`) to `batch`, padding
/// the layout rows of whichever side had fewer slots on the left.
fn join<K>(
    batch: &mut DecodeBatch<K>,
    cache: KvCache,
    layout: Vec<Vec<SlotPos>>,
    mut rows: Vec<Row<K>>,
) {
    let slots = batch.slots().max(layout.first().map_or(0, Vec::len));
    batch.layout.extend(layout);
    for row in &mut batch.layout {
        let extra = slots - row.len();
        row.splice(0..0, std::iter::repeat_n(None, extra));
    }
    batch.cache = cache;
    let live = batch.rows.len() + rows.len();
    for r in &mut rows {
        r.batch_size = live;
    }
    batch.rows.extend(rows);
}

/// Fails every live row of `batch` with `why` and empties it.
fn fail_all<K>(batch: &mut DecodeBatch<K>, why: &str, events: &mut Vec<BatchEvent<K>>) {
    batch.layout.clear();
    batch.cache = KvCache::new(batch.num_layers);
    fail_rows(std::mem::take(&mut batch.rows), why, events);
}

fn fail_rows<K>(rows: Vec<Row<K>>, why: &str, events: &mut Vec<BatchEvent<K>>) {
    events.extend(rows.into_iter().map(|r| BatchEvent::Failed {
        id: r.id,
        error: RequestError::Inference(why.to_string()),
    }));
}

/// How much of `held` (decoded text not yet sent) can be sent: all but a trailing U+FFFD run
/// (bytes of a character still to come) and the longest tail that is a proper prefix of a stop
/// string (a stop string may still complete there, and the final text is cut before it). A
/// stop string cannot begin in text already sent: when it was sent, no tail from there was a
/// prefix of any stop string, and later text only extends it.
fn stable_end(held: &str, until: &[String]) -> usize {
    // What follows the held-back characters is unknown, so stop prefixes are looked for in
    // the text before them.
    let held = held.trim_end_matches('\u{fffd}');
    let mut end = held.len();
    for u in until.iter().filter(|u| !u.is_empty()) {
        let from = held.len().saturating_sub(u.len() - 1);
        if let Some(p) = (from..held.len())
            .filter(|&p| held.is_char_boundary(p))
            .find(|&p| u.starts_with(&held[p..]))
        {
            end = end.min(p);
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Engine, LoadOptions, Sampling};

    fn load(family: &str) -> LightweightEngine {
        let dir = format!(
            "{}/tests/fixtures/{family}-micro",
            env!("CARGO_MANIFEST_DIR")
        );
        LightweightEngine::load(&dir, LoadOptions::default()).expect("load fixture")
    }

    fn prompts(family: &str) -> Vec<String> {
        let path = format!(
            "{}/tests/fixtures/{family}-micro/reference.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("reference")).expect("json");
        let mut out: Vec<String> = r["greedy"]
            .as_array()
            .expect("greedy")
            .iter()
            .map(|g| g["prompt"].as_str().expect("prompt").to_string())
            .collect();
        // Longest first: the first admitted row then carries the most slots.
        out.sort_by_key(|p| std::cmp::Reverse(p.len()));
        out
    }

    fn greedy(prompt: &str, max_gen_toks: usize, until: Vec<String>) -> GenerateRequest {
        GenerateRequest {
            prompt: prompt.to_string(),
            until,
            max_gen_toks,
            sampling: Sampling::Greedy,
        }
    }

    /// Runs `reqs` through one batch, admitting request `i` before step `at[i]` (at least one
    /// step apart, so every join merges into a running batch), cancelling `cancel` ids after
    /// their step; returns each id's result and concatenated deltas.
    fn run_staggered(
        eng: &mut LightweightEngine,
        reqs: &[GenerateRequest],
        at: &[usize],
        cancel: &[(usize, usize)],
    ) -> Vec<(Option<GenerateResult>, String, usize)> {
        let mut out: Vec<(Option<GenerateResult>, String, usize)> =
            vec![(None, String::new(), 0); reqs.len()];
        let mut batch = DecodeBatch::new(eng);
        let mut step = 0;
        loop {
            let join: Vec<Admission<usize>> = (0..reqs.len())
                .filter(|&i| at[i] == step)
                .map(|i| Admission {
                    id: i,
                    request: reqs[i].clone(),
                    stream: true,
                })
                .collect();
            let mut events = eng.admit(&mut batch, join);
            for &(id, when) in cancel {
                if when == step {
                    let (was_live, ev) = eng.cancel(&mut batch, &id);
                    assert!(was_live, "row {id} was live at step {step}");
                    assert!(ev.is_empty());
                }
            }
            events.extend(eng.step(&mut batch));
            for e in events {
                match e {
                    BatchEvent::Text { id, delta } => {
                        assert!(!delta.is_empty());
                        out[id].1.push_str(&delta);
                        out[id].2 += 1;
                    }
                    BatchEvent::Finished { id, result } => out[id].0 = Some(result),
                    BatchEvent::Failed { id, error } => panic!("{id}: {error}"),
                }
            }
            step += 1;
            if batch.is_empty() && at.iter().all(|&a| a < step) {
                return out;
            }
            assert!(step < 1000, "batch never drained");
        }
    }

    #[test]
    fn a_sequence_joining_a_running_batch_generates_what_it_would_alone() {
        for family in ["llama", "mistral", "qwen2", "phi"] {
            let mut eng = load(family);
            let reqs: Vec<GenerateRequest> = prompts(family)
                .iter()
                .map(|p| greedy(p, 24, vec![]))
                .collect();
            let at: Vec<usize> = (0..reqs.len()).map(|i| 3 * i).collect();
            let got = run_staggered(&mut eng, &reqs, &at, &[]);
            for (req, (res, streamed, _)) in reqs.iter().zip(&got) {
                let alone = eng.generate(std::slice::from_ref(req));
                let alone = alone[0].as_ref().expect("alone");
                let res = res.as_ref().expect("finished");
                assert_eq!(res.token_ids, alone.token_ids, "{family}: {:?}", req.prompt);
                assert_eq!(res.text, alone.text, "{family}");
                assert_eq!(res.finish_reason, alone.finish_reason, "{family}");
                assert_eq!(streamed, &res.text, "{family}: deltas add up to the text");
            }
        }
    }

    #[test]
    fn stream_deltas_add_up_to_the_text_with_stop_strings() {
        let mut eng = load("llama");
        let ps = prompts("llama");
        // Stop strings taken from the middle of each greedy text, so that partial matches are
        // held back along the way.
        let mut reqs = Vec::new();
        for p in &ps {
            let full = eng.generate(&[greedy(p, 24, vec![])]);
            let text = full[0].as_ref().expect("gen").text.clone();
            let stop: String = text.chars().skip(6).take(3).collect();
            reqs.push(greedy(p, 24, vec![stop, "\u{fffd}\u{fffd}".into()]));
        }
        let at: Vec<usize> = (0..reqs.len()).map(|i| i % 3).collect();
        let got = run_staggered(&mut eng, &reqs, &at, &[]);
        let mut multi = 0;
        for (req, (res, streamed, deltas)) in reqs.iter().zip(&got) {
            let res = res.as_ref().expect("finished");
            let alone = eng.generate(std::slice::from_ref(req));
            assert_eq!(res.text, alone[0].as_ref().expect("alone").text);
            assert_eq!(streamed, &res.text, "{:?}", req.prompt);
            for u in &req.until {
                assert!(!streamed.contains(u.as_str()), "{streamed:?} has {u:?}");
            }
            multi += usize::from(*deltas > 1);
        }
        assert!(multi > 0, "some text arrived in several deltas");
    }

    #[test]
    fn cancelling_a_row_leaves_the_others_unchanged() {
        let mut eng = load("mistral");
        let reqs: Vec<GenerateRequest> = prompts("mistral")
            .iter()
            .take(4)
            .map(|p| greedy(p, 20, vec![]))
            .collect();
        let got = run_staggered(&mut eng, &reqs, &[0, 0, 2, 5], &[(1, 4), (0, 7)]);
        for (i, (req, (res, _, _))) in reqs.iter().zip(&got).enumerate() {
            if i < 2 {
                assert!(res.is_none(), "cancelled row {i} reported a result");
                continue;
            }
            let alone = eng.generate(std::slice::from_ref(req));
            let alone = &alone[0].as_ref().expect("alone").token_ids;
            assert_eq!(&res.as_ref().expect("finished").token_ids, alone, "row {i}");
        }
        let mut batch: DecodeBatch<usize> = DecodeBatch::new(&eng);
        assert!(!eng.cancel(&mut batch, &3).0);
    }

    #[test]
    fn bad_requests_fail_alone_and_the_batch_drains() {
        let mut eng = load("llama");
        let max = eng.info().max_seq_len;
        let mut batch = DecodeBatch::new(&eng);
        let ev = eng.admit(
            &mut batch,
            vec![
                Admission {
                    id: 0,
                    request: greedy("The river", max, vec![]),
                    stream: false,
                },
                Admission {
                    id: 1,
                    request: greedy("The river", 0, vec![]),
                    stream: true,
                },
                Admission {
                    id: 2,
                    request: greedy("The river", 3, vec![]),
                    stream: false,
                },
            ],
        );
        assert!(matches!(
            ev[0],
            BatchEvent::Failed {
                id: 0,
                error: RequestError::TooLong { .. }
            }
        ));
        assert!(
            matches!(&ev[1], BatchEvent::Finished { id: 1, result } if result.token_ids.is_empty())
        );
        assert_eq!(batch.len(), 1);
        assert!(batch.slots() > 0);
        eng.step(&mut batch);
        let ev = eng.step(&mut batch);
        assert!(
            matches!(&ev[..], [BatchEvent::Finished { id: 2, result }] if result.token_ids.len() == 3)
        );
        assert!(batch.is_empty());
        assert_eq!(batch.slots(), 0);
        assert!(eng.step(&mut batch).is_empty());
    }

    /// A SentencePiece-style tokenizer (Metaspace `▁` spaces, byte fallback, the Llama
    /// decoder that strips the first leading space) over the llama fixture's 512 ids, so that
    /// random generations mix word pieces, spaces and split multi-byte characters.
    fn sentencepiece_tokenizer() -> serde_json::Value {
        use serde_json::json;
        let specials = ["<unk>", "<s>", "</s>", "<pad>"];
        let mut vocab: Vec<String> = specials.iter().map(|s| s.to_string()).collect();
        vocab.extend((0..=255u32).map(|b| format!("<0x{b:02X}>")));
        let words = [
            "the", "river", "boat", "é", "ü", "日本", "na", "ïve", "—", "…", "ß", "ing",
        ];
        let letters = ('a'..='z').map(String::from);
        let mut pieces: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        pieces.extend(letters);
        let base = pieces.clone();
        pieces.extend(base.iter().map(|p| format!("\u{2581}{p}")));
        pieces.extend(base.iter().map(|p| format!("\u{2581}\u{2581}{p}")));
        pieces.push("\u{2581}".into());
        pieces.extend(
            (0..)
                .map(|i| format!("x{i}"))
                .take(512 - vocab.len() - pieces.len()),
        );
        vocab.extend(pieces);
        assert_eq!(vocab.len(), 512);
        let vocab: serde_json::Map<String, serde_json::Value> = vocab
            .into_iter()
            .enumerate()
            .map(|(i, t)| (t, json!(i)))
            .collect();
        let added: Vec<serde_json::Value> = specials
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({"id": i, "content": c, "single_word": false, "lstrip": false,
                       "rstrip": false, "normalized": false, "special": true})
            })
            .collect();
        let bos = json!({"SpecialToken": {"id": "<s>", "type_id": 0}});
        json!({
            "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": "\u{2581}"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"}]},
            "pre_tokenizer": null,
            "post_processor": {"type": "TemplateProcessing",
                "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [bos, {"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
            "decoder": {"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"String": "\u{2581}"}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
            "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>",
                "continuing_subword_prefix": null, "end_of_word_suffix": null,
                "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
                "vocab": vocab, "merges": []}
        })
    }

    #[test]
    fn sentencepiece_spaces_and_split_characters_stream_like_the_full_decode() {
        let src = format!("{}/tests/fixtures/llama-micro", env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().expect("tempdir");
        for entry in std::fs::read_dir(&src).expect("fixture") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
        }
        std::fs::write(
            dir.path().join("tokenizer.json"),
            sentencepiece_tokenizer().to_string(),
        )
        .expect("write tokenizer");
        let mut eng =
            LightweightEngine::load(dir.path().to_str().expect("utf-8"), LoadOptions::default())
                .expect("load");
        let reqs: Vec<GenerateRequest> = [
            "the river",
            "naïve boat 日本 — …",
            "a b c d e",
            "über straße",
            "x",
        ]
        .iter()
        .flat_map(|p| {
            [
                greedy(p, 40, vec![]),
                greedy(p, 40, vec![" t".into(), "\u{fffd}".into()]),
            ]
        })
        .collect();
        let at: Vec<usize> = (0..reqs.len()).map(|i| i % 4).collect();
        let got = run_staggered(&mut eng, &reqs, &at, &[]);
        let (mut spaces, mut multibyte, mut most_deltas) = (false, false, 0);
        for (req, (res, streamed, deltas)) in reqs.iter().zip(&got) {
            most_deltas = most_deltas.max(*deltas);
            let res = res.as_ref().expect("finished");
            let alone = eng.generate(std::slice::from_ref(req));
            assert_eq!(res.text, alone[0].as_ref().expect("alone").text);
            assert_eq!(streamed, &res.text, "{:?}", req.prompt);
            spaces |= res.text.contains(' ');
            multibyte |= res
                .text
                .chars()
                .any(|c| c.len_utf8() > 1 && c != '\u{fffd}');
        }
        assert!(
            spaces && multibyte,
            "the generations exercise spaces and multi-byte text"
        );
        assert!(
            most_deltas > 3,
            "text streamed in pieces ({most_deltas} deltas at most)"
        );
    }

    #[test]
    fn held_back_text_is_an_unfinished_character_or_a_possible_stop() {
        assert_eq!(stable_end("ab\u{fffd}", &[]), 2);
        assert_eq!(stable_end("ab\u{fffd}c", &[]), 6);
        assert_eq!(stable_end("hello wo", &["world".into()]), 6);
        assert_eq!(stable_end("hello w", &["world".into(), "lo w!".into()]), 3);
        assert_eq!(stable_end("hello", &["xyz".into(), String::new()]), 5);
        assert_eq!(stable_end("héé", &["éx".into()]), 3);
        // A stop string may begin with the character still being completed.
        assert_eq!(stable_end("ab\u{fffd}", &["bé".into()]), 1);
    }
}
