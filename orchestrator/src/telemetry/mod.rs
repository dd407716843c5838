//! Telemetry while a job runs: device readings every [`INTERVAL`] and a GPU-use verdict.
//!
//! - GPUs: NVML (loaded at run time) per device of the job: memory used, power, utilisation,
//!   temperature and the total-energy counter. Before the worker loads, one reading per device
//!   is the idle baseline.
//! - CPU: the worker process's resident memory (`/proc/<pid>/status` VmRSS) and CPU time
//!   (`/proc/<pid>/stat` utime + stime), as a utilisation percentage of one core.
//!
//! The verdict compares the job's peak memory and mean power with the baseline: utilisation
//! alone misleads for small models (a tiny kernel shows high "utilisation" at idle power).

mod gpu;
mod proc;
mod sampler;

pub use gpu::GpuReader;
pub use proc::{ProcReading, read_proc};
pub use sampler::Sampler;

use crate::store::TelemetrySample;
use serde::Serialize;
use std::time::Duration;

/// Time between readings.
pub const INTERVAL: Duration = Duration::from_millis(150);
/// Memory growth over the baseline that counts as the model living on the GPU.
pub const GPU_MEM_DELTA_BYTES: i64 = 64 << 20;
/// Mean power rise over the baseline that counts as the GPU computing.
pub const GPU_POWER_DELTA_W: f64 = 10.0;

/// One device's idle reading, taken before the model loads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Baseline {
    pub mem_used_bytes: i64,
    pub power_w: f64,
}

/// Whether the job used its GPUs, with the figures that decided it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The job ran on the CPU (no GPU involved).
    Cpu,
    GpuUsed {
        mem_delta_bytes: i64,
        power_delta_w: f64,
    },
    /// A GPU was assigned but neither memory nor power moved: the work likely ran elsewhere.
    GpuIdle {
        mem_delta_bytes: i64,
        power_delta_w: f64,
    },
    /// No readings to judge from.
    Unknown,
    /// The model ran on a remote server: only client-side timings exist.
    Remote,
}

impl Verdict {
    /// One line for tables: `cpu`, `gpu used (+3.2 GiB, +85 W)`, `gpu idle (...)`, `unknown`,
    /// `remote (...)`.
    pub fn describe(&self) -> String {
        let gib = |b: i64| b as f64 / (1u64 << 30) as f64;
        match self {
            Verdict::Cpu => "cpu".into(),
            Verdict::GpuUsed {
                mem_delta_bytes,
                power_delta_w,
            } => format!(
                "gpu used (+{:.2} GiB, {:+.0} W)",
                gib(*mem_delta_bytes),
                power_delta_w
            ),
            Verdict::GpuIdle {
                mem_delta_bytes,
                power_delta_w,
            } => format!(
                "gpu idle ({:+.2} GiB, {:+.0} W): the work likely ran elsewhere",
                gib(*mem_delta_bytes),
                power_delta_w
            ),
            Verdict::Unknown => "unknown (no readings)".into(),
            Verdict::Remote => "remote (server-side; client timings only)".into(),
        }
    }
}

/// The verdict for one device from its baseline and its readings during the job.
pub fn verdict(baseline: Option<Baseline>, readings: &[TelemetrySample]) -> Verdict {
    let Some(base) = baseline else {
        return Verdict::Unknown;
    };
    let peak_mem = readings.iter().filter_map(|r| r.mem_used_bytes).max();
    let powers: Vec<f64> = readings.iter().filter_map(|r| r.power_w).collect();
    let Some(peak_mem) = peak_mem else {
        return Verdict::Unknown;
    };
    let mem_delta_bytes = peak_mem - base.mem_used_bytes;
    let power_delta_w = if powers.is_empty() {
        0.0
    } else {
        powers.iter().sum::<f64>() / powers.len() as f64 - base.power_w
    };
    if mem_delta_bytes >= GPU_MEM_DELTA_BYTES || power_delta_w >= GPU_POWER_DELTA_W {
        Verdict::GpuUsed {
            mem_delta_bytes,
            power_delta_w,
        }
    } else {
        Verdict::GpuIdle {
            mem_delta_bytes,
            power_delta_w,
        }
    }
}

/// Summary of a job's readings, stored with the job.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub readings: usize,
    /// Peak worker RSS (CPU) in bytes.
    pub peak_rss_bytes: Option<i64>,
    /// Worker CPU time in seconds.
    pub cpu_time_s: Option<f64>,
    /// Peak GPU memory used, summed over the job's devices.
    pub peak_gpu_mem_bytes: Option<i64>,
    /// Energy drawn by the job's GPUs (from NVML's counter), in joules.
    pub energy_j: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(mem: i64, power: f64) -> TelemetrySample {
        TelemetrySample {
            run_id: 1,
            job_id: Some(1),
            t_ms: 0,
            device: "gpu0".into(),
            util_pct: Some(100.0),
            mem_used_bytes: Some(mem),
            mem_total_bytes: Some(80 << 30),
            power_w: Some(power),
            temp_c: None,
        }
    }

    #[test]
    fn verdict_from_memory_and_power_deltas() {
        let base = Baseline {
            mem_used_bytes: 500 << 20,
            power_w: 60.0,
        };
        // The model's weights appeared on the device.
        let used = verdict(
            Some(base),
            &[reading(4 << 30, 62.0), reading(4 << 30, 61.0)],
        );
        assert!(
            matches!(used, Verdict::GpuUsed { mem_delta_bytes, .. } if mem_delta_bytes > 3 << 30)
        );
        // 100% "utilisation" but no memory and no power: not used.
        let idle = verdict(
            Some(base),
            &[reading(510 << 20, 61.0), reading(505 << 20, 60.5)],
        );
        assert!(matches!(idle, Verdict::GpuIdle { .. }), "{idle:?}");
        // Power alone is enough (a model already resident from a warm start).
        let hot = verdict(Some(base), &[reading(520 << 20, 250.0)]);
        assert!(matches!(hot, Verdict::GpuUsed { power_delta_w, .. } if power_delta_w > 100.0));
        assert_eq!(verdict(None, &[]), Verdict::Unknown);
        assert_eq!(verdict(Some(base), &[]), Verdict::Unknown);
    }
}
