//! Load benchmark for `assay serve`: the same generation requests run (1) in process, as
//! engine batches of `CLIENTS`, and (2) through the HTTP server on loopback from `CLIENTS`
//! concurrent clients (the remote engine with `concurrency = CLIENTS`, one request per client
//! at a time). Prints requests/s, latency p50/p95 and generated tokens/s for both, and the
//! server's time to the first streamed token.
//!
//! `cargo run --release --example serve_load -- MODEL_DIR [CLIENTS] [REQUESTS] [MAX_TOKENS]`

use std::time::Instant;

use assay::serve::{self, ServeOptions};
use assay_engines::api::{Engine, GenerateRequest, Sampling};
use assay_engines::telemetry::Percentiles;
use assay_engines::{LightweightEngine, LoadOptions, RemoteConfig, RemoteEngine};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let model = args
        .get(1)
        .ok_or_else(|| {
            anyhow::anyhow!("usage: serve_load MODEL_DIR [CLIENTS] [REQUESTS] [MAX_TOKENS]")
        })?
        .clone();
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (clients, total, max_tokens) = (num(2, 64), num(3, 512), num(4, 32));
    let opts = LoadOptions {
        max_batch_size: clients,
        ..LoadOptions::default()
    };
    let prompts = [
        "Question: Which city is the capital of France?\nAnswer:",
        "The river moved slowly under the old stone bridge, and the boat",
        "Once upon a time",
        "def add(a, b):",
    ];
    let reqs: Vec<GenerateRequest> = (0..total)
        .map(|i| GenerateRequest {
            prompt: format!("{} {i}", prompts[i % prompts.len()]),
            until: vec![],
            max_gen_toks: max_tokens,
            sampling: Sampling::Greedy,
        })
        .collect();

    // In process: batches of `clients`.
    let mut eng = LightweightEngine::load(&model, opts.clone())?;
    eng.generate(&reqs[..clients.min(total)]); // warm-up
    let t0 = Instant::now();
    let mut lat = Vec::new();
    let mut toks = 0usize;
    for chunk in reqs.chunks(clients) {
        let b0 = Instant::now();
        for r in eng.generate(chunk).into_iter().flatten() {
            toks += r.token_ids.len();
            lat.push(b0.elapsed().as_secs_f64());
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    report("in-process", total, wall, toks, &Percentiles::of(&lat));
    drop(eng);

    // Through the server on loopback.
    let eng = LightweightEngine::load(&model, opts)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let router = serve::router(
        eng,
        &ServeOptions {
            served_name: "m".into(),
            max_queue: 4 * clients,
            max_batch: clients,
        },
    )?;
    rt.spawn(serve::serve(listener, router, std::future::pending()));
    let mut cfg = RemoteConfig::new(&format!("http://{addr}/v1"), "m");
    cfg.concurrency = clients;
    let mut remote = RemoteEngine::connect(cfg)?;
    remote.generate(&reqs[..clients.min(total)]); // warm-up
    let before = remote.telemetry().decode_tokens;
    let t0 = Instant::now();
    let out = remote.generate(&reqs);
    let wall = t0.elapsed().as_secs_f64();
    let failed = out.iter().filter(|r| r.is_err()).count();
    let lat: Vec<f64> = out.iter().flatten().map(|r| r.timing.latency_s).collect();
    let toks = remote.telemetry().decode_tokens - before;
    report(
        "assay serve",
        total - failed,
        wall,
        toks,
        &Percentiles::of(&lat),
    );
    let ttft: Vec<f64> = out.iter().flatten().map(|r| r.timing.ttft_s).collect();
    let t = Percentiles::of(&ttft);
    println!(
        "{:<12} time to first streamed token: p50 {:.1} ms  p95 {:.1} ms",
        "",
        t.p50 * 1e3,
        t.p95 * 1e3
    );
    if failed > 0 {
        println!("{failed} requests failed");
    }
    Ok(())
}

fn report(name: &str, n: usize, wall: f64, toks: usize, p: &Percentiles) {
    println!(
        "{name:<12} requests {n:>5}  wall {wall:>7.2} s  {:>7.1} req/s  p50 {:>7.1} ms  p95 {:>7.1} ms  {:>8.0} tok/s",
        n as f64 / wall,
        p.p50 * 1e3,
        p.p95 * 1e3,
        toks as f64 / wall
    );
}
