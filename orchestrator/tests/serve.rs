//! `assay serve` on loopback with the micro checkpoints: the remote engine gives the in-process
//! engine's log-likelihoods and greedy texts; the official `openai` Python client works against
//! it; streams arrive token by token; bad requests, a full queue and clients that disconnect
//! mid-stream are handled without harming concurrent requests; tensor-parallel serving gives
//! the lightweight engine's completions.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::util::Served;
use assay_engines::api::{Engine, GenerateRequest, LoglikelihoodRequest, Sampling};
use assay_engines::{ChatMessage, LightweightEngine, LoadOptions, RemoteConfig, RemoteEngine};
use serde_json::{Value, json};

fn fixture(name: &str) -> String {
    format!(
        "{}/../engines/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// `assay serve` on a micro fixture, killed on drop.
fn serve(model: &str, extra: &[&str]) -> Served {
    Served::start(&crate::util::fixture(model), extra)
}

/// One HTTP/1.1 request over a fresh connection: (status, body).
fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(body).expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map_or("", |b| b.1).to_string();
    (status, body)
}

fn error_of(body: &str) -> Value {
    serde_json::from_str::<Value>(body).unwrap_or_else(|e| panic!("{e}: {body}"))["error"].clone()
}

fn requests() -> Vec<LoglikelihoodRequest> {
    let r: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}/reference.json", fixture("llama-micro")))
            .expect("reference"),
    )
    .expect("json");
    let mut out: Vec<LoglikelihoodRequest> = r["loglikelihood"]
        .as_array()
        .expect("list")
        .iter()
        .map(|x| LoglikelihoodRequest {
            context: x["context"].as_str().unwrap_or_default().into(),
            continuation: x["continuation"].as_str().unwrap_or_default().into(),
        })
        .collect();
    // Trailing space moved onto the continuation, and a context-free-looking short one.
    out.push(LoglikelihoodRequest {
        context: "The boat went under the bridge ".into(),
        continuation: "slowly".into(),
    });
    out
}

#[test]
fn remote_engine_matches_in_process_engine() {
    for model in ["llama-micro", "qwen2-micro"] {
        let server = serve(model, &[]);
        let mut local =
            LightweightEngine::load(&fixture(model), LoadOptions::default()).expect("load");
        let mut cfg = RemoteConfig::new(&server.base_url(), model);
        cfg.concurrency = 8;
        let mut remote = RemoteEngine::connect(cfg).expect("connect");
        assert_eq!(remote.info().max_seq_len, local.info().max_seq_len);

        let reqs = requests();
        let want = local.loglikelihood(&reqs);
        let got = remote.loglikelihood(&reqs);
        for ((w, g), r) in want.iter().zip(&got).zip(&reqs) {
            let (w, g) = (w.as_ref().expect("local"), g.as_ref().expect("remote"));
            assert!(
                (w.logprob - g.logprob).abs() < 1e-4,
                "{model} {r:?}: local {} remote {}",
                w.logprob,
                g.logprob
            );
            assert_eq!(w.is_greedy, g.is_greedy, "{model} {r:?}");
            assert_eq!(
                w.continuation_tokens, g.continuation_tokens,
                "{model} {r:?}"
            );
        }

        // A continuation that is the greedy one scores is_greedy on both sides.
        let ctx = "The river moved slowly";
        let greedy = local.generate(&[GenerateRequest {
            prompt: ctx.into(),
            until: vec![],
            max_gen_toks: 3,
            sampling: Sampling::Greedy,
        }]);
        let cont = greedy[0].as_ref().expect("gen").text.clone();
        if !cont.contains('\u{fffd}') && !cont.trim().is_empty() && !cont.starts_with(' ') {
            let r = [LoglikelihoodRequest {
                context: ctx.into(),
                continuation: cont.clone(),
            }];
            let w = local.loglikelihood(&r)[0].clone().expect("local");
            let g = remote.loglikelihood(&r)[0].clone().expect("remote");
            assert_eq!(w.is_greedy, g.is_greedy, "{model} greedy {cont:?}");
        }

        let gens: Vec<GenerateRequest> = [
            "Question: Which city is the capital of France?\nAnswer:",
            "The river moved slowly under the old stone bridge, and the boat",
            "a",
        ]
        .iter()
        .map(|p| GenerateRequest {
            prompt: p.to_string(),
            until: vec!["\n\n".into()],
            max_gen_toks: 20,
            sampling: Sampling::Greedy,
        })
        .collect();
        let want = local.generate(&gens);
        let got = remote.generate(&gens);
        for (w, g) in want.iter().zip(&got) {
            let (w, g) = (w.as_ref().expect("local"), g.as_ref().expect("remote"));
            assert_eq!(w.text, g.text, "{model}");
            assert_eq!(w.finish_reason, g.finish_reason, "{model}");
            assert_eq!(w.prompt_tokens, g.prompt_tokens, "{model}");
        }

        // Chat goes through /v1/chat/completions and the server's template.
        let msgs = [ChatMessage {
            role: "user".into(),
            content: "Hello there".into(),
        }];
        let packed = remote.apply_chat_template(&msgs, true).expect("pack");
        let rendered = local.apply_chat_template(&msgs, true).expect("render");
        let req = |prompt: String| GenerateRequest {
            prompt,
            until: vec![],
            max_gen_toks: 8,
            sampling: Sampling::Greedy,
        };
        let w = local.generate(&[req(rendered.clone())]);
        let g = remote.generate(&[req(packed)]);
        assert_eq!(
            w[0].as_ref().expect("local").text,
            g[0].as_ref().expect("remote").text
        );
        assert_eq!(
            remote.token_count(&rendered).expect("count"),
            local.token_count(&rendered).expect("count")
        );

        let t = remote.telemetry();
        assert!(t.requests >= reqs.len() + gens.len());
        assert!(t.latency.p50 > 0.0 && t.ttft.p50 > 0.0);
        assert!(t.decode_tokens > 0 && t.decode_tokens_per_s > 0.0);
    }
}

#[test]
fn bad_requests_are_answered_without_harming_others() {
    let server = serve("llama-micro", &[]);
    let a = server.addr.as_str();
    let (st, body) = http(
        a,
        "POST",
        "/v1/completions",
        b"{\"model\": \"llama-micro\", ",
    );
    assert_eq!(st, 400, "{body}");
    assert!(
        error_of(&body)["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not valid JSON")
    );

    let (st, body) = http(
        a,
        "POST",
        "/v1/completions",
        json!({"model": "gpt-9", "prompt": "hi"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(st, 404, "{body}");
    assert_eq!(error_of(&body)["code"], "model_not_found");

    let long = "word ".repeat(5000);
    let (st, body) = http(
        a,
        "POST",
        "/v1/completions",
        json!({"model": "llama-micro", "prompt": long, "max_tokens": 4})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(st, 422, "{body}");
    let e = error_of(&body);
    assert_eq!(e["param"], "prompt");
    assert!(
        e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("context length"),
        "{e}"
    );

    let (st, body) = http(
        a,
        "POST",
        "/v1/completions",
        json!({"model": "llama-micro", "prompt": "x", "temperature": 2.5})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(st, 422);
    assert_eq!(
        error_of(&body)["message"],
        "`temperature` must be in [0, 2]. Given: 2.5"
    );

    // A streaming client that goes away before reading anything.
    for _ in 0..3 {
        let mut s = TcpStream::connect(a).expect("connect");
        let body = json!({"model": "llama-micro", "prompt": "The river", "max_tokens": 30,
                          "stream": true})
        .to_string();
        let head = format!(
            "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(head.as_bytes()).expect("write");
        drop(s);
    }
    // ...and others are still served.
    let (st, body) = http(
        a,
        "POST",
        "/v1/completions",
        json!({"model": "llama-micro", "prompt": "The river", "max_tokens": 5,
               "temperature": 0, "stream": true})
        .to_string()
        .as_bytes(),
    );
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("data: [DONE]"), "{body}");
    let (st, body) = http(a, "GET", "/health", b"");
    assert_eq!((st, body.contains("ok")), (200, true));
}

#[test]
fn full_queue_answers_429() {
    let server = serve("llama-micro", &["--max-queue", "1", "--max-batch", "1"]);
    let addr = server.addr.clone();
    let handles: Vec<_> = (0..24)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                http(
                    &addr,
                    "POST",
                    "/v1/completions",
                    json!({"model": "llama-micro", "prompt": "The river moved", "max_tokens": 60,
                           "temperature": 0})
                    .to_string()
                    .as_bytes(),
                )
            })
        })
        .collect();
    let results: Vec<(u16, String)> = handles
        .into_iter()
        .map(|h| h.join().expect("join"))
        .collect();
    let ok = results.iter().filter(|r| r.0 == 200).count();
    let limited: Vec<_> = results.iter().filter(|r| r.0 == 429).collect();
    assert!(ok >= 1, "{results:?}");
    assert!(!limited.is_empty(), "no 429 among {results:?}");
    assert_eq!(ok + limited.len(), results.len(), "{results:?}");
    assert_eq!(error_of(&limited[0].1)["code"], "queue_full");

    // The remote engine backs off on 429 and gets every answer.
    let mut cfg = RemoteConfig::new(&server.base_url(), "llama-micro");
    cfg.concurrency = 16;
    cfg.backoff_s = 0.05;
    cfg.max_retries = 12;
    let mut remote = RemoteEngine::connect(cfg).expect("connect");
    let reqs: Vec<GenerateRequest> = (0..16)
        .map(|i| GenerateRequest {
            prompt: format!("The river {i}"),
            until: vec![],
            max_gen_toks: 20,
            sampling: Sampling::Greedy,
        })
        .collect();
    for r in remote.generate(&reqs) {
        assert!(r.is_ok(), "{r:?}");
    }
}

#[test]
fn openai_python_client_lists_completes_chats_and_streams() {
    let has_openai = Command::new("python3")
        .args(["-c", "import openai"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_openai,
        "this test needs python3 with the `openai` package: pip install openai"
    );
    let server = serve("llama-micro", &[]);
    let script = format!("{}/tests/openai_client.py", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .args([&script, &format!("http://{}", server.addr), "llama-micro"])
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "openai_client.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(v["models"], json!(["llama-micro"]));
    let completion = v["completion"].as_str().expect("completion");
    assert!(!completion.is_empty());
    // Streaming gives the same greedy text as the plain request.
    assert_eq!(v["stream"].as_str(), Some(completion));
    assert!(v["stream_chunks"].as_u64().unwrap_or(0) >= 1);
    assert!(!v["chat"].as_str().unwrap_or_default().is_empty());
    assert_eq!(v["chat_stream"], v["chat"]);
    assert_eq!(v["echo_tokens"], v["echo_offsets"]);
    assert_eq!(v["bad_request_status"], 422);
    assert_eq!(v["bad_request_param"], "top_p");
}

/// The `data:` events of an SSE body (chunked transfer framing lines are skipped).
fn sse_events(body: &str) -> Vec<Value> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect()
}

fn local_greedy(model: &str, prompt: &str, max_gen_toks: usize) -> String {
    let mut local = LightweightEngine::load(&fixture(model), LoadOptions::default()).expect("load");
    let out = local.generate(&[GenerateRequest {
        prompt: prompt.into(),
        until: vec![],
        max_gen_toks,
        sampling: Sampling::Greedy,
    }]);
    out[0].as_ref().expect("generate").text.clone()
}

const BOAT: &str = "The river moved slowly under the old stone bridge, and the boat";

#[test]
fn streams_arrive_one_chunk_per_text_delta() {
    let server = serve("llama-micro", &[]);
    let want = local_greedy("llama-micro", BOAT, 20);
    let (st, body) = http(
        &server.addr,
        "POST",
        "/v1/completions",
        json!({"model": "llama-micro", "prompt": BOAT, "max_tokens": 20, "temperature": 0,
               "stream": true, "stream_options": {"include_usage": true}})
        .to_string()
        .as_bytes(),
    );
    assert_eq!(st, 200, "{body}");
    assert!(body.trim_end().ends_with("data: [DONE]") || body.contains("data: [DONE]"));
    let events = sse_events(&body);
    let texts: Vec<&str> = events
        .iter()
        .map(|e| e["choices"][0]["text"].as_str().expect("text"))
        .collect();
    let content = texts.iter().filter(|t| !t.is_empty()).count();
    assert!(content > 1, "one chunk per delta, got {content}: {body}");
    assert_eq!(texts.concat(), want);
    let last = events.last().expect("events");
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    assert_eq!(last["usage"]["completion_tokens"], 20);
    assert!(
        events[..events.len() - 1]
            .iter()
            .all(|e| e["choices"][0]["finish_reason"].is_null())
    );

    // Chat: a role chunk first, then content deltas, then the finish.
    let (st, body) = http(
        &server.addr,
        "POST",
        "/v1/chat/completions",
        json!({"model": "llama-micro", "messages": [{"role": "user", "content": "Hello there"}],
               "max_tokens": 16, "temperature": 0, "stream": true})
        .to_string()
        .as_bytes(),
    );
    assert_eq!(st, 200, "{body}");
    let events = sse_events(&body);
    assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
    let parts = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .filter(|c| !c.is_empty())
        .count();
    assert!(parts > 1, "{body}");

    // A stream the engine rejects before any token still gets its HTTP error.
    let (st, body) = http(
        &server.addr,
        "POST",
        "/v1/completions",
        json!({"model": "llama-micro", "prompt": "word ".repeat(5000), "max_tokens": 4,
               "stream": true})
        .to_string()
        .as_bytes(),
    );
    assert_eq!(st, 422, "{body}");
    assert_eq!(error_of(&body)["param"], "prompt");
}

/// Opens a streaming completion and reads until its first content event arrived.
fn open_stream(addr: &str, prompt: &str, max_tokens: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let body = json!({"model": "llama-micro", "prompt": prompt, "max_tokens": max_tokens,
                      "temperature": 0, "stream": true})
    .to_string();
    let head = format!(
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write");
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while !String::from_utf8_lossy(&seen).contains("data: {") {
        let n = s.read(&mut buf).expect("read");
        assert!(
            n > 0,
            "stream closed early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(!String::from_utf8_lossy(&seen).contains("[DONE]"));
    s
}

#[test]
fn clients_leaving_mid_stream_do_not_change_other_requests() {
    let server = serve("llama-micro", &[]);
    let prompt = "Question: Which city is the capital of France?\nAnswer:";
    let want = local_greedy("llama-micro", prompt, 24);
    let want_boat = local_greedy("llama-micro", BOAT, 20);
    // Long streams, each left after its first chunk while the other requests run.
    let streams: Vec<TcpStream> = (0..3)
        .map(|i| open_stream(&server.addr, &format!("The river {i}"), 1500))
        .collect();
    let addr = server.addr.clone();
    let plain = std::thread::spawn(move || {
        http(
            &addr,
            "POST",
            "/v1/completions",
            json!({"model": "llama-micro", "prompt": prompt, "max_tokens": 24,
                   "temperature": 0})
            .to_string()
            .as_bytes(),
        )
    });
    let addr = server.addr.clone();
    let streamed = std::thread::spawn(move || {
        http(
            &addr,
            "POST",
            "/v1/completions",
            json!({"model": "llama-micro", "prompt": BOAT, "max_tokens": 20,
                   "temperature": 0, "stream": true})
            .to_string()
            .as_bytes(),
        )
    });
    drop(streams);
    let (st, body) = plain.join().expect("join");
    assert_eq!(st, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["choices"][0]["text"], want.as_str());
    let (st, body) = streamed.join().expect("join");
    assert_eq!(st, 200, "{body}");
    let text: String = sse_events(&body)
        .iter()
        .filter_map(|e| e["choices"][0]["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, want_boat);
    // The abandoned rows were dropped: a request now runs alone and is served.
    let (st, _) = http(
        &server.addr,
        "POST",
        "/v1/completions",
        json!({"model": "llama-micro", "prompt": "a", "max_tokens": 4})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(st, 200);
}

#[test]
fn tensor_parallel_serving_matches_the_lightweight_engine() {
    let server = serve("llama-micro", &["--tensor-parallel", "2"]);
    let mut local =
        LightweightEngine::load(&fixture("llama-micro"), LoadOptions::default()).expect("load");
    let mut cfg = RemoteConfig::new(&server.base_url(), "llama-micro");
    cfg.concurrency = 4;
    let mut remote = RemoteEngine::connect(cfg).expect("connect");
    let gens: Vec<GenerateRequest> = [
        "Question: Which city is the capital of France?\nAnswer:",
        BOAT,
        "a",
        "In 1987, the population was",
    ]
    .iter()
    .map(|p| GenerateRequest {
        prompt: p.to_string(),
        until: vec![],
        max_gen_toks: 16,
        sampling: Sampling::Greedy,
    })
    .collect();
    let want = local.generate(&gens);
    let got = remote.generate(&gens);
    for (w, g) in want.iter().zip(&got) {
        let (w, g) = (w.as_ref().expect("local"), g.as_ref().expect("remote"));
        assert_eq!(w.text, g.text);
        assert_eq!(w.prompt_tokens, g.prompt_tokens);
    }
    let (st, body) = http(
        &server.addr,
        "POST",
        "/v1/completions",
        json!({"model": "llama-micro", "prompt": BOAT, "max_tokens": 20, "temperature": 0,
               "stream": true})
        .to_string()
        .as_bytes(),
    );
    assert_eq!(st, 200, "{body}");
    let text: String = sse_events(&body)
        .iter()
        .filter_map(|e| e["choices"][0]["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, local_greedy("llama-micro", BOAT, 20));

    // A split the model does not allow is refused with its numbers.
    let out = Command::new(env!("CARGO_BIN_EXE_assay"))
        .args([
            "serve",
            &fixture("llama-micro"),
            "--port",
            "0",
            "--tensor-parallel",
            "3",
        ])
        .output()
        .expect("run assay serve");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("num_attention_heads") && err.contains('3'),
        "{err}"
    );
}
