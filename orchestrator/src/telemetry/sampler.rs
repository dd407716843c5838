//! The sampler task of one job: every [`INTERVAL`], the worker processes' RSS and CPU time
//! and the job's GPUs through NVML; readings are written to the store in chunks, and the job
//! gets a summary and a GPU-use verdict per device when it stops the sampler.

use super::{Baseline, GpuReader, INTERVAL, Summary, Verdict, read_proc, verdict};
use crate::store::{SqliteStore, Store, TelemetrySample, now_ms};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Samples the worker processes and the job's GPUs until stopped.
pub struct Sampler {
    /// Worker processes to read; the job adds each worker's pid as it starts.
    pub pids: Arc<Mutex<Vec<u32>>>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<(Summary, Vec<(String, Verdict)>)>,
}

impl Sampler {
    /// Start sampling; the GPU baseline is read now, before any model loads.
    pub fn start(
        store: SqliteStore,
        run_id: i64,
        job_id: i64,
        gpus: &[&crate::hardware::Gpu],
    ) -> Sampler {
        let pids: Arc<Mutex<Vec<u32>>> = Arc::new(Mutex::new(Vec::new()));
        let reader = GpuReader::new(gpus);
        let baselines: Vec<(String, Option<Baseline>)> =
            reader.as_ref().map(|r| r.baseline()).unwrap_or_default();
        let on_gpu = !gpus.is_empty();
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let watch = pids.clone();
        let task = tokio::spawn(async move {
            let mut summary = Summary::default();
            let mut pending: Vec<TelemetrySample> = Vec::new();
            let mut all_gpu: Vec<TelemetrySample> = Vec::new();
            let mut first_energy: Vec<Option<f64>> = Vec::new();
            let mut last_energy: Vec<Option<f64>> = Vec::new();
            let mut last_cpu: Option<(f64, Instant)> = None;
            let mut cpu_total = 0.0;
            loop {
                let now = now_ms();
                let pids: Vec<u32> = watch.lock().map(|p| p.clone()).unwrap_or_default();
                let mut rss = 0u64;
                let mut cpu = 0.0;
                let mut seen = false;
                for pid in &pids {
                    if let Some(r) = read_proc(*pid) {
                        rss += r.rss_bytes;
                        cpu += r.cpu_s;
                        seen = true;
                    }
                }
                if seen {
                    let util = last_cpu.map(|(c, t)| {
                        let dt = t.elapsed().as_secs_f64();
                        if dt > 0.0 {
                            100.0 * (cpu - c).max(0.0) / dt
                        } else {
                            0.0
                        }
                    });
                    last_cpu = Some((cpu, Instant::now()));
                    cpu_total = cpu;
                    summary.peak_rss_bytes =
                        Some(summary.peak_rss_bytes.unwrap_or(0).max(rss as i64));
                    pending.push(TelemetrySample {
                        run_id,
                        job_id: Some(job_id),
                        t_ms: now,
                        device: "cpu".into(),
                        util_pct: util,
                        mem_used_bytes: Some(rss as i64),
                        mem_total_bytes: None,
                        power_w: None,
                        temp_c: None,
                    });
                }
                if let Some(r) = &reader {
                    let readings = r.read();
                    if first_energy.is_empty() {
                        first_energy = readings.iter().map(|(_, g)| g.energy_j).collect();
                    }
                    last_energy = readings.iter().map(|(_, g)| g.energy_j).collect();
                    let total: i64 = readings.iter().filter_map(|(_, g)| g.mem_used_bytes).sum();
                    summary.peak_gpu_mem_bytes =
                        Some(summary.peak_gpu_mem_bytes.unwrap_or(0).max(total));
                    for (label, g) in readings {
                        let s = TelemetrySample {
                            run_id,
                            job_id: Some(job_id),
                            t_ms: now,
                            device: label,
                            util_pct: g.util_pct,
                            mem_used_bytes: g.mem_used_bytes,
                            mem_total_bytes: g.mem_total_bytes,
                            power_w: g.power_w,
                            temp_c: g.temp_c,
                        };
                        all_gpu.push(s.clone());
                        pending.push(s);
                    }
                }
                summary.readings += 1;
                if pending.len() >= 40 {
                    let _ = store.insert_telemetry(std::mem::take(&mut pending)).await;
                }
                tokio::select! {
                    _ = &mut rx => break,
                    _ = tokio::time::sleep(INTERVAL) => {}
                }
            }
            if !pending.is_empty() {
                let _ = store.insert_telemetry(pending).await;
            }
            summary.cpu_time_s = (cpu_total > 0.0).then_some(cpu_total);
            let energy: f64 = first_energy
                .iter()
                .zip(&last_energy)
                .filter_map(|(a, b)| Some(b.as_ref()? - a.as_ref()?))
                .sum();
            if !first_energy.is_empty() {
                summary.energy_j = Some(energy);
            }
            let verdicts = if on_gpu {
                baselines
                    .iter()
                    .map(|(label, base)| {
                        let mine: Vec<TelemetrySample> = all_gpu
                            .iter()
                            .filter(|s| &s.device == label)
                            .cloned()
                            .collect();
                        (label.clone(), verdict(*base, &mine))
                    })
                    .collect()
            } else {
                vec![("cpu".to_string(), Verdict::Cpu)]
            };
            (summary, verdicts)
        });
        Sampler {
            pids,
            stop: tx,
            task,
        }
    }

    /// Stop, flush the readings and return the summary and the per-device verdicts.
    pub async fn stop(self) -> (Summary, Vec<(String, Verdict)>) {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}
