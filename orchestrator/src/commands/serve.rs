//! `assay serve MODEL [--port N] [--tensor-parallel N]`: loads a model into the lightweight
//! engine (or `N` tensor-parallel ranks: one per GPU in a CUDA + NCCL build with GPUs, else
//! in-process CPU ranks) and serves it with the OpenAI-compatible API of [`crate::serve`]
//! until interrupted (Ctrl-C or SIGTERM).
//!
//! The first stdout line is the base URL (`--json`: `{"base_url", "model", "max_model_len"}`),
//! printed once the port is bound, so scripts can start it with `--port 0` and read the port.
use anyhow::Context;

use crate::cli::ServeArgs;
use crate::error::EXIT_OK;
use crate::printer::Printer;
use crate::serve::{self, ServeOptions};
use assay_engines::api::Engine;
use assay_engines::lightweight::make_device;
use assay_engines::{DeviceSpec, LightweightEngine, LoadOptions, TensorParallelEngine};

pub fn run(args: &ServeArgs, printer: &Printer) -> anyhow::Result<u8> {
    let opts = LoadOptions {
        device: DeviceSpec::Auto,
        max_batch_size: args.max_batch,
        ..LoadOptions::default()
    };
    let engine = match args.tensor_parallel {
        None => LightweightEngine::load(&args.model, opts)
            .with_context(|| format!("loading `{}`", args.model))?,
        Some(tp) => load_tensor_parallel(&args.model, tp, opts)?,
    };
    let served_name = args.served_name.clone().unwrap_or_else(|| {
        std::path::Path::new(&args.model)
            .file_name()
            .map_or_else(|| args.model.clone(), |n| n.to_string_lossy().into_owned())
    });
    printer.notice(format!(
        "{} on {}; concurrent requests are batched continuously (up to {} decoding together)",
        served_name,
        engine.info().device,
        args.max_batch
    ));
    let max_model_len = engine.info().max_seq_len;
    let options = ServeOptions {
        served_name: served_name.clone(),
        max_queue: args.max_queue,
        max_batch: args.max_batch,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .with_context(|| format!("binding {}:{}", args.host, args.port))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let base_url = format!("http://{addr}/v1");
        if printer.json {
            printer.json(&serde_json::json!({
                "base_url": base_url, "model": served_name, "max_model_len": max_model_len,
            }))?;
        } else {
            printer.line(format!("serving {served_name} at {base_url}"))?;
        }
        let router = serve::router(engine, &options).context("starting the engine thread")?;
        serve::serve(listener, router, shutdown_signal())
            .await
            .context("serving HTTP")
    })?;
    Ok(EXIT_OK)
}

/// `tp` ranks: one CUDA device each when this build drives GPUs and one is present, else
/// in-process CPU ranks. Validation errors name the model's numbers (heads, FFN width).
fn load_tensor_parallel(
    model: &str,
    tp: u64,
    opts: LoadOptions,
) -> anyhow::Result<LightweightEngine> {
    let tp = usize::try_from(tp)
        .ok()
        .filter(|&t| t >= 1)
        .with_context(|| format!("--tensor-parallel must be at least 1. Given: {tp}"))?;
    let on_gpu = cfg!(all(feature = "cuda", feature = "nccl"))
        && make_device(DeviceSpec::Auto).is_ok_and(|(d, _)| d.is_cuda());
    let devices: Vec<DeviceSpec> = if on_gpu {
        (0..tp).map(DeviceSpec::Cuda).collect()
    } else {
        vec![DeviceSpec::Cpu; tp]
    };
    let engine = TensorParallelEngine::load(model, tp, &devices, opts)
        .with_context(|| format!("loading `{model}` over {tp} tensor-parallel ranks"))?;
    Ok(engine.into_lightweight())
}

async fn shutdown_signal() {
    match super::StopSignals::listen() {
        Ok(mut signals) => {
            signals.next().await;
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
