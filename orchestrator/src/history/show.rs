//! `show`: everything stored about one run — its settings and inventory, each job's status and
//! error, its scores, and a performance summary per job (load time, time to first token,
//! tokens/s, latency percentiles, memory estimated against measured, whether the GPUs worked).
//!
//! The measured memory is the job's recorded peak when there is one, else the largest total of
//! `mem_used` over the job's devices at one telemetry instant. Without a verdict recorded by the
//! run, the GPU-use verdict is derived from telemetry: a GPU job whose devices averaged under
//! [`IDLE_UTIL_PCT`] utilisation is reported idle (the work probably ran elsewhere).

use super::{LookupError, find_run};
use crate::store::{
    HistoryQuery, HistoryRow, JobRecord, JobStats, Queries, RunRecord, Store, TelemetrySample,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// Mean GPU utilisation below which a job's devices count as idle.
pub const IDLE_UTIL_PCT: f64 = 5.0;

#[derive(Debug, Clone, Serialize)]
pub struct JobSummary {
    pub job: JobRecord,
    pub stats: Option<JobStats>,
    /// Peak memory measured (recorded by the job, else from telemetry).
    pub memory_measured_bytes: Option<i64>,
    /// Mean utilisation of the job's devices over its telemetry readings.
    pub mean_util_pct: Option<f64>,
    pub telemetry_readings: usize,
    pub gpu_verdict: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run: RunRecord,
    pub jobs: Vec<JobSummary>,
    pub scores: Vec<HistoryRow>,
}

pub async fn summary<S: Store + Queries>(
    store: &S,
    id: i64,
    path: &str,
) -> Result<RunSummary, LookupError> {
    let run = find_run(store, id, path).await?;
    let jobs = store.jobs(id).await?;
    let stats = store.job_stats(id).await?;
    let telemetry = store.telemetry(id).await?;
    let scores = store
        .history_with_failures(&HistoryQuery {
            run_id: Some(id),
            ..HistoryQuery::default()
        })
        .await?;
    let jobs = jobs
        .into_iter()
        .map(|job| {
            let stats = stats.iter().find(|s| s.job_id == job.id).cloned();
            job_summary(job, stats, &telemetry)
        })
        .collect();
    Ok(RunSummary { run, jobs, scores })
}

fn job_summary(
    job: JobRecord,
    stats: Option<JobStats>,
    telemetry: &[TelemetrySample],
) -> JobSummary {
    let mine: Vec<&TelemetrySample> = telemetry
        .iter()
        .filter(|t| t.job_id == Some(job.id))
        .collect();
    // Total memory over the job's devices at each instant; the peak of that.
    let mut per_instant: BTreeMap<i64, i64> = BTreeMap::new();
    for t in &mine {
        if let Some(m) = t.mem_used_bytes {
            *per_instant.entry(t.t_ms).or_default() += m;
        }
    }
    let telemetry_peak = per_instant.values().copied().max();
    let utils: Vec<f64> = mine
        .iter()
        .filter(|t| t.device.starts_with("gpu"))
        .filter_map(|t| t.util_pct)
        .collect();
    let mean_util = (!utils.is_empty()).then(|| utils.iter().sum::<f64>() / utils.len() as f64);
    let recorded = stats.as_ref().and_then(|s| s.gpu_verdict.clone());
    let gpu_verdict = recorded.unwrap_or_else(|| match (job.devices.is_empty(), mean_util) {
        (true, _) => "CPU job (no GPU assigned)".to_string(),
        (false, None) => "unknown (no GPU telemetry)".to_string(),
        (false, Some(u)) if u < IDLE_UTIL_PCT => {
            format!("IDLE: GPUs averaged {u:.1}% busy; the work likely ran elsewhere")
        }
        (false, Some(u)) => format!("used: GPUs averaged {u:.1}% busy"),
    });
    JobSummary {
        memory_measured_bytes: job.memory_measured_bytes.or(telemetry_peak),
        mean_util_pct: mean_util,
        telemetry_readings: mine.len(),
        gpu_verdict,
        job,
        stats,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::JobStatus;

    fn job(devices: Vec<i64>) -> JobRecord {
        JobRecord {
            id: 1,
            run_id: 1,
            model: "m".into(),
            revision: "main".into(),
            weights_hash: None,
            engine: "lightweight".into(),
            dtype: "bf16".into(),
            tp: 1,
            devices,
            memory_estimate_bytes: Some(100),
            memory_measured_bytes: None,
            status: JobStatus::Completed,
            error: None,
            started_at_ms: None,
            finished_at_ms: None,
        }
    }

    fn reading(device: &str, t_ms: i64, util: f64, mem: i64) -> TelemetrySample {
        TelemetrySample {
            run_id: 1,
            job_id: Some(1),
            t_ms,
            device: device.into(),
            util_pct: Some(util),
            mem_used_bytes: Some(mem),
            mem_total_bytes: None,
            power_w: None,
            temp_c: None,
        }
    }

    #[test]
    fn verdict_and_peak_from_telemetry() {
        let t = vec![
            reading("gpu0", 0, 90.0, 10),
            reading("gpu1", 0, 80.0, 20),
            reading("gpu0", 1, 70.0, 25),
        ];
        let s = job_summary(job(vec![0, 1]), None, &t);
        assert_eq!(s.memory_measured_bytes, Some(30));
        assert!(
            s.gpu_verdict.starts_with("used: GPUs averaged 80.0%"),
            "{}",
            s.gpu_verdict
        );
        let idle = job_summary(job(vec![0]), None, &[reading("gpu0", 0, 1.0, 5)]);
        assert!(idle.gpu_verdict.starts_with("IDLE"), "{}", idle.gpu_verdict);
        let cpu = job_summary(job(vec![]), None, &[]);
        assert!(cpu.gpu_verdict.starts_with("CPU job"));
        assert_eq!(cpu.memory_measured_bytes, None);
    }
}
