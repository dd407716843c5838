//! Hardware inventory: the GPUs (from NVML at run time), a CPU-only host, or a described cluster
//! (`--gpus 8xH100-80GB`). All three produce the same `Inventory`, which sizing, routing and
//! scheduling take; nothing later asks where it came from except to print it.
//!
//! Usable memory per GPU is `min(free − max(2% of total, 512 MiB), 0.9 × total − used)`: the first
//! term keeps a safety margin over what is free now, the second caps any process at 90% of the card
//! so the driver and other tenants keep some room. On a CPU host the usable RAM is the available RAM
//! minus `max(10% of total, 1 GiB)`.
pub mod cpu;
pub mod nvml;
pub mod spec;

use petgraph::unionfind::UnionFind;

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

/// One GPU as the planner sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Gpu {
    /// Index as CUDA will number it in this process (after `CUDA_VISIBLE_DEVICES`).
    pub index: u32,
    /// Name as NVML reports it, or the described name (`H100-80GB`).
    pub name: String,
    /// Row of the device table this GPU matched (for throughput), if any.
    pub kind: Option<&'static str>,
    pub uuid: Option<String>,
    pub memory_total: u64,
    pub memory_free: u64,
    pub memory_used: u64,
    /// Current draw and enforced limit in watts, where NVML reports them.
    pub power_watts: Option<f64>,
    pub power_limit_watts: Option<f64>,
    /// `(major, minor)`.
    pub compute_capability: Option<(i32, i32)>,
    /// Indices of GPUs reachable over an active NVLink.
    pub nvlink_peers: Vec<u32>,
}

impl Gpu {
    /// `min(free − max(2% of total, 512 MiB), 0.9·total − used)`, never below zero.
    pub fn usable_bytes(&self) -> u64 {
        let margin = (self.memory_total / 50).max(512 * MIB);
        let by_free = self.memory_free.saturating_sub(margin);
        let cap = (self.memory_total as f64 * 0.9) as u64;
        by_free.min(cap.saturating_sub(self.memory_used))
    }
    /// GPUs with the same name and total memory are one kind (tensor-parallel gangs stay in a kind).
    pub fn same_kind(&self, other: &Gpu) -> bool {
        self.name == other.name && self.memory_total == other.memory_total
    }
}

/// The host's CPU and RAM (always present; the only device on a host without GPUs).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CpuHost {
    pub model: String,
    pub cores: u32,
    pub memory_total: u64,
    pub memory_available: u64,
}

impl CpuHost {
    /// Available RAM minus `max(10% of total, 1 GiB)`.
    pub fn usable_bytes(&self) -> u64 {
        let margin = (self.memory_total / 10).max(GIB);
        self.memory_available.saturating_sub(margin)
    }
}

/// Where the inventory came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Nvml,
    Described,
    Cpu,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Inventory {
    pub source: Source,
    pub gpus: Vec<Gpu>,
    pub cpu: CpuHost,
    /// A one-line notice for the user (e.g. why there are no GPUs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

impl Inventory {
    /// NVLink groups: connected components of the NVLink peer graph, as lists of positions in
    /// `gpus`, sorted. A GPU without NVLink is a group of its own.
    pub fn nvlink_groups(&self) -> Vec<Vec<usize>> {
        let pos_of = |index: u32| self.gpus.iter().position(|g| g.index == index);
        let mut uf = UnionFind::<usize>::new(self.gpus.len());
        for (i, gpu) in self.gpus.iter().enumerate() {
            for peer in gpu.nvlink_peers.iter().filter_map(|&p| pos_of(p)) {
                uf.union(i, peer);
            }
        }
        let labels = uf.into_labeling();
        let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for (i, label) in labels.into_iter().enumerate() {
            groups.entry(label).or_default().push(i);
        }
        groups.into_values().collect()
    }

    pub fn is_cpu_only(&self) -> bool {
        self.gpus.is_empty()
    }
}

/// Detect the hardware: NVML when a driver loads, else the CPU host with a notice. Never fails:
/// a missing driver, a failing call or an empty `CUDA_VISIBLE_DEVICES` all mean "CPU host".
pub fn detect() -> Inventory {
    let cpu = cpu::detect();
    let visible = std::env::var("CUDA_VISIBLE_DEVICES").ok();
    match nvml::detect(visible.as_deref()) {
        Ok(gpus) if !gpus.is_empty() => Inventory {
            source: Source::Nvml,
            gpus,
            cpu,
            notice: None,
        },
        Ok(_) => Inventory {
            source: Source::Cpu,
            gpus: vec![],
            cpu,
            notice: Some(
                "NVML found no visible GPUs (check CUDA_VISIBLE_DEVICES): planning for the CPU"
                    .into(),
            ),
        },
        Err(e) => Inventory {
            source: Source::Cpu,
            gpus: vec![],
            cpu,
            notice: Some(format!("no NVIDIA driver ({e}): planning for the CPU")),
        },
    }
}

/// The inventory for a command: the described cluster when `--gpus` is given, else detection.
pub fn inventory(gpus_flag: Option<&str>) -> Result<Inventory, spec::SpecError> {
    match gpus_flag {
        Some(text) => Ok(spec::parse(text)?.into_inventory(cpu::detect())),
        None => Ok(detect()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(crate) fn gpu(index: u32, total_mib: u64, free_mib: u64) -> Gpu {
        Gpu {
            index,
            name: "Test".into(),
            kind: None,
            uuid: None,
            memory_total: total_mib * MIB,
            memory_free: free_mib * MIB,
            memory_used: (total_mib - free_mib) * MIB,
            power_watts: None,
            power_limit_watts: None,
            compute_capability: None,
            nvlink_peers: vec![],
        }
    }

    #[test]
    fn usable_is_the_smaller_of_the_two_bounds() {
        // Empty 80 GiB card: free − 2% = 78.4 GiB; 0.9·total = 72 GiB → 72 GiB.
        let g = gpu(0, 80 * 1024, 80 * 1024);
        assert_eq!(g.usable_bytes(), (80.0 * 1024.0 * 0.9) as u64 * MIB);
        // Busy small card: free 4 GiB − 512 MiB margin = 3.5 GiB; 0.9·16 − 12 = 2.4 GiB → 2.4 GiB.
        let g = gpu(0, 16 * 1024, 4 * 1024);
        assert_eq!(
            g.usable_bytes(),
            (16.0 * 1024.0 * MIB as f64 * 0.9) as u64 - 12 * 1024 * MIB
        );
        // Full card: nothing usable, no underflow.
        assert_eq!(gpu(0, 16 * 1024, 0).usable_bytes(), 0);
    }

    #[test]
    fn nvlink_groups_are_connected_components() {
        let mut gpus: Vec<Gpu> = (0..5).map(|i| gpu(i, 1024, 1024)).collect();
        gpus[0].nvlink_peers = vec![1];
        gpus[1].nvlink_peers = vec![0, 2];
        gpus[3].nvlink_peers = vec![4];
        let inv = Inventory {
            source: Source::Described,
            gpus,
            cpu: cpu::tests::host(8, 16),
            notice: None,
        };
        assert_eq!(inv.nvlink_groups(), vec![vec![0, 1, 2], vec![3, 4]]);
    }

    #[test]
    fn cpu_usable_keeps_a_margin() {
        let host = cpu::tests::host(8, 32);
        assert_eq!(host.usable_bytes(), 32 * GIB - (32 * GIB / 10));
        let small = cpu::tests::host(2, 4);
        assert_eq!(small.usable_bytes(), 3 * GIB);
    }
}
