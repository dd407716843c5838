//! Engine telemetry: load and per-batch timings, token throughput, latency percentiles and
//! memory (process RSS from `/proc/self/status` on CPU).

use serde::{Deserialize, Serialize};

/// Measured while loading a model.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadTelemetry {
    pub load_s: f64,
    pub weight_bytes: u64,
    pub rss_after_load_bytes: Option<u64>,
}

/// One forward batch (a group of requests served together).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchTelemetry {
    /// `loglikelihood` or `generate`.
    pub kind: String,
    pub requests: usize,
    pub prefill_tokens: usize,
    pub prefill_s: f64,
    pub decode_tokens: usize,
    pub decode_s: f64,
    pub wall_s: f64,
    pub peak_rss_bytes: Option<u64>,
}

/// Cumulative engine counters since load.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EngineTelemetry {
    pub load: LoadTelemetry,
    pub device: String,
    pub compute_note: Option<String>,
    pub requests: usize,
    pub batches: usize,
    pub prefill_tokens: usize,
    pub prefill_s: f64,
    pub prefill_tokens_per_s: f64,
    pub decode_tokens: usize,
    pub decode_s: f64,
    pub decode_tokens_per_s: f64,
    /// Requests whose context was left-truncated to fit the model.
    pub truncated_requests: usize,
    pub truncated_tokens: usize,
    /// Continuations scored from a shared, once-computed context.
    pub reused_context_requests: usize,
    pub ttft: Percentiles,
    pub latency: Percentiles,
    /// Peak resident set size of the process (VmHWM), CPU memory.
    pub peak_rss_bytes: Option<u64>,
    /// The most recent batches (at most [`Recorder::KEEP_BATCHES`]).
    pub recent_batches: Vec<BatchTelemetry>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: usize,
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `values` (order irrelevant).
    pub fn of(values: &[f64]) -> Percentiles {
        if values.is_empty() {
            return Percentiles::default();
        }
        let mut v = values.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        let rank = |p: f64| {
            let idx = ((p / 100.0) * v.len() as f64).ceil() as usize;
            v[idx.clamp(1, v.len()) - 1]
        };
        Percentiles {
            count: v.len(),
            mean: v.iter().sum::<f64>() / v.len() as f64,
            p50: rank(50.0),
            p95: rank(95.0),
            p99: rank(99.0),
            max: v[v.len() - 1],
        }
    }
}

/// Accumulates telemetry inside an engine.
#[derive(Debug, Default)]
pub struct Recorder {
    pub totals: EngineTelemetry,
    ttfts: Vec<f64>,
    latencies: Vec<f64>,
}

impl Recorder {
    pub const KEEP_BATCHES: usize = 256;

    pub fn new(load: LoadTelemetry, device: String, compute_note: Option<String>) -> Self {
        Recorder {
            totals: EngineTelemetry {
                load,
                device,
                compute_note,
                ..Default::default()
            },
            ttfts: Vec::new(),
            latencies: Vec::new(),
        }
    }

    pub fn request(&mut self, ttft_s: f64, latency_s: f64) {
        self.totals.requests += 1;
        self.ttfts.push(ttft_s);
        self.latencies.push(latency_s);
    }

    pub fn truncated(&mut self, tokens: usize) {
        if tokens > 0 {
            self.totals.truncated_requests += 1;
            self.totals.truncated_tokens += tokens;
        }
    }

    pub fn batch(&mut self, mut b: BatchTelemetry) {
        b.peak_rss_bytes = peak_rss_bytes();
        let t = &mut self.totals;
        t.batches += 1;
        t.prefill_tokens += b.prefill_tokens;
        t.prefill_s += b.prefill_s;
        t.decode_tokens += b.decode_tokens;
        t.decode_s += b.decode_s;
        if t.recent_batches.len() == Self::KEEP_BATCHES {
            t.recent_batches.remove(0);
        }
        t.recent_batches.push(b);
    }

    pub fn snapshot(&self) -> EngineTelemetry {
        let mut t = self.totals.clone();
        t.prefill_tokens_per_s = rate(t.prefill_tokens, t.prefill_s);
        t.decode_tokens_per_s = rate(t.decode_tokens, t.decode_s);
        t.ttft = Percentiles::of(&self.ttfts);
        t.latency = Percentiles::of(&self.latencies);
        t.peak_rss_bytes = peak_rss_bytes();
        t
    }
}

pub fn rate(tokens: usize, seconds: f64) -> f64 {
    if seconds > 0.0 {
        tokens as f64 / seconds
    } else {
        0.0
    }
}

/// Current resident set size (VmRSS), if `/proc` is available.
pub fn rss_bytes() -> Option<u64> {
    proc_status_kb("VmRSS:").map(|kb| kb * 1024)
}

/// Peak resident set size of the process (VmHWM), if `/proc` is available.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_kb("VmHWM:").map(|kb| kb * 1024)
}

fn proc_status_kb(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_status_kb(&status, key)
}

fn parse_status_kb(status: &str, key: &str) -> Option<u64> {
    status.lines().find(|l| l.starts_with(key)).and_then(|l| {
        l[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(&v);
        assert_eq!(p.p50, 50.0);
        assert_eq!(p.p95, 95.0);
        assert_eq!(p.p99, 99.0);
        assert_eq!(p.max, 100.0);
        assert_eq!(Percentiles::of(&[]).count, 0);
    }

    #[test]
    fn parses_proc_status() {
        let s = "Name:\tx\nVmHWM:\t  1234 kB\nVmRSS:\t  1000 kB\n";
        assert_eq!(parse_status_kb(s, "VmHWM:"), Some(1234));
        assert_eq!(parse_status_kb(s, "VmRSS:"), Some(1000));
        assert_eq!(parse_status_kb(s, "VmSwap:"), None);
        assert!(rss_bytes().is_some());
    }
}
