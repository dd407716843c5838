//! NVML readings of a job's GPUs (memory used and total, power, utilisation, temperature,
//! total energy). NVML is loaded at run time; without a driver there is no reader.

use super::Baseline;
use crate::hardware::Gpu;
use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;

/// A reading of one GPU.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GpuReading {
    pub mem_used_bytes: Option<i64>,
    pub mem_total_bytes: Option<i64>,
    pub power_w: Option<f64>,
    pub util_pct: Option<f64>,
    pub temp_c: Option<f64>,
    /// NVML's energy counter since driver load, in joules.
    pub energy_j: Option<f64>,
}

/// Reads a fixed set of GPUs through one NVML handle.
pub struct GpuReader {
    nvml: Nvml,
    /// `(label, NVML uuid or index)` per device.
    devices: Vec<(String, Key)>,
}

impl std::fmt::Debug for GpuReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuReader")
            .field(
                "devices",
                &self.devices.iter().map(|d| &d.0).collect::<Vec<_>>(),
            )
            .finish()
    }
}

enum Key {
    Uuid(String),
    Index(u32),
}

impl GpuReader {
    /// A reader for `gpus`; `None` when NVML cannot be loaded or no GPU is given.
    pub fn new(gpus: &[&Gpu]) -> Option<GpuReader> {
        if gpus.is_empty() {
            return None;
        }
        let nvml = Nvml::init().ok()?;
        let devices = gpus
            .iter()
            .map(|g| {
                let key = match &g.uuid {
                    Some(u) => Key::Uuid(u.clone()),
                    None => Key::Index(g.index),
                };
                (format!("gpu{}", g.index), key)
            })
            .collect();
        Some(GpuReader { nvml, devices })
    }

    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.devices.iter().map(|d| d.0.as_str())
    }

    /// One reading per device, in order (fields NVML refuses stay `None`).
    pub fn read(&self) -> Vec<(String, GpuReading)> {
        self.devices
            .iter()
            .map(|(label, key)| {
                let dev = match key {
                    Key::Uuid(u) => self.nvml.device_by_uuid(u.as_str()),
                    Key::Index(i) => self.nvml.device_by_index(*i),
                };
                let reading = match dev {
                    Ok(d) => {
                        let mem = d.memory_info().ok();
                        GpuReading {
                            mem_used_bytes: mem.as_ref().map(|m| m.used as i64),
                            mem_total_bytes: mem.as_ref().map(|m| m.total as i64),
                            power_w: d.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
                            util_pct: d.utilization_rates().ok().map(|u| f64::from(u.gpu)),
                            temp_c: d.temperature(TemperatureSensor::Gpu).ok().map(f64::from),
                            energy_j: d
                                .total_energy_consumption()
                                .ok()
                                .map(|mj| mj as f64 / 1000.0),
                        }
                    }
                    Err(_) => GpuReading::default(),
                };
                (label.clone(), reading)
            })
            .collect()
    }

    /// The idle baseline of each device (one reading).
    pub fn baseline(&self) -> Vec<(String, Option<Baseline>)> {
        self.read()
            .into_iter()
            .map(|(label, r)| {
                let b = r.mem_used_bytes.map(|m| Baseline {
                    mem_used_bytes: m,
                    power_w: r.power_w.unwrap_or(0.0),
                });
                (label, b)
            })
            .collect()
    }
}
