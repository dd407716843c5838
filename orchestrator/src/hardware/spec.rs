//! Described clusters (`--gpus 8xH100-80GB`, `2xA100-40GB,1xL4-24GB`, `4x48GB`, `8xH100`) and the
//! table of known devices: memory and dense 16-bit tensor throughput.
//!
//! The memory column is what NVML reports as total for that card (in MiB), so a described GPU
//! sizes the same as a real, empty one. Throughput is the vendor's dense BF16/FP16 tensor-core
//! peak (no sparsity), in TFLOP/s; `sizing`/`schedule` apply an efficiency factor to it. A plain
//! size (`48GB`) describes an unknown card of that many GiB, with the table's fallback rate.
//! The GPUs of one group (`8xH100-80GB`) are one NVLink group; separate groups are not linked.
use super::{CpuHost, GIB, Gpu, Inventory, MIB, Source};

/// One row of the device table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeviceKind {
    /// Canonical name, used in `--gpus` and printed.
    pub name: &'static str,
    /// Short family name that selects this row when no size is given (`H100` → `H100-80GB`).
    pub family: &'static str,
    pub default_for_family: bool,
    pub memory_mib: u64,
    /// Dense 16-bit tensor TFLOP/s.
    pub tflops: f64,
}

const fn kind(
    name: &'static str,
    family: &'static str,
    default: bool,
    memory_mib: u64,
    tflops: f64,
) -> DeviceKind {
    DeviceKind {
        name,
        family,
        default_for_family: default,
        memory_mib,
        tflops,
    }
}

/// Known devices. Rates: dense BF16 (FP16 for V100/T4), from the vendors' data sheets.
pub const DEVICES: &[DeviceKind] = &[
    kind("H100-80GB", "H100", true, 81_559, 989.0),
    kind("H100-94GB", "H100", false, 95_830, 835.0), // H100 NVL
    kind("H200-141GB", "H200", true, 143_771, 989.0),
    kind("A100-40GB", "A100", false, 40_960, 312.0),
    kind("A100-80GB", "A100", true, 81_920, 312.0),
    kind("L4-24GB", "L4", true, 23_034, 121.0),
    kind("L40S-48GB", "L40S", true, 46_068, 362.0),
    kind("A10-24GB", "A10", true, 23_028, 125.0),
    kind("RTX4090-24GB", "RTX4090", true, 24_564, 165.0),
    kind("RTX3090-24GB", "RTX3090", true, 24_576, 71.0),
    kind("V100-16GB", "V100", false, 16_384, 125.0),
    kind("V100-32GB", "V100", true, 32_768, 125.0),
    kind("T4-16GB", "T4", true, 15_360, 65.0),
    kind("A6000-48GB", "A6000", true, 49_140, 155.0),
    kind("MI300X-192GB", "MI300X", true, 196_608, 1307.0),
];

/// Rate assumed for a described card of unknown kind (`4x48GB`), TFLOP/s.
pub const UNKNOWN_GPU_TFLOPS: f64 = 100.0;

/// Problems with a `--gpus` description.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("--gpus is empty: give e.g. 8xH100-80GB or 2xA100-40GB,1xL4-24GB")]
    Empty,
    #[error("--gpus group `{group}`: {reason}")]
    BadGroup { group: String, reason: String },
    #[error("--gpus: unknown GPU `{name}`; {} (or give a size, e.g. 4x48GB)", crate::suggest::did_you_mean(.close))]
    UnknownGpu { name: String, close: Vec<String> },
}

/// One group of a described cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub count: u32,
    pub name: String,
    pub kind: Option<&'static str>,
    pub memory_bytes: u64,
}

/// A parsed `--gpus` value.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    pub groups: Vec<Group>,
}

/// Parse `--gpus`: comma-separated `[N x]NAME` groups, NAME a table name, family or size.
pub fn parse(text: &str) -> Result<ClusterSpec, SpecError> {
    let groups: Vec<Group> = text
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(parse_group)
        .collect::<Result<_, _>>()?;
    if groups.is_empty() {
        return Err(SpecError::Empty);
    }
    Ok(ClusterSpec { groups })
}

fn parse_group(group: &str) -> Result<Group, SpecError> {
    let bad = |reason: &str| SpecError::BadGroup {
        group: group.to_string(),
        reason: reason.to_string(),
    };
    let (count, name) = match group.split_once(['x', 'X', '×']) {
        Some((n, rest)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => (
            n.parse::<u32>().map_err(|_| bad("count is too large"))?,
            rest.trim(),
        ),
        _ => (1, group),
    };
    if count == 0 {
        return Err(bad("count must be at least 1"));
    }
    if count > 4096 {
        return Err(bad("count must be at most 4096"));
    }
    if name.is_empty() {
        return Err(bad("missing the GPU name or size after the count"));
    }
    if let Some(gib) = plain_size(name) {
        if gib == 0 {
            return Err(bad("memory size must be positive"));
        }
        return Ok(Group {
            count,
            name: format!("{gib}GB"),
            kind: None,
            memory_bytes: gib * GIB,
        });
    }
    let kind = lookup(name).ok_or_else(|| SpecError::UnknownGpu {
        name: name.to_string(),
        close: close_names(name),
    })?;
    Ok(Group {
        count,
        name: kind.name.to_string(),
        kind: Some(kind.name),
        memory_bytes: kind.memory_mib * MIB,
    })
}

/// `48GB`, `48G`, `48GiB` → 48.
fn plain_size(name: &str) -> Option<u64> {
    let lower = name.to_ascii_lowercase();
    let digits = lower
        .strip_suffix("gib")
        .or_else(|| lower.strip_suffix("gb"))
        .or_else(|| lower.strip_suffix('g'))?;
    digits.parse().ok()
}

/// Case-, dash- and space-insensitive key (`h100 80gb` = `H100-80GB`; `(NVL)` suffixes ignored).
fn key(name: &str) -> String {
    let base = name.split('(').next().unwrap_or(name);
    base.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A table row by canonical name or by family (its default row).
pub fn lookup(name: &str) -> Option<&'static DeviceKind> {
    let k = key(name);
    let k = k.strip_prefix("nvidia").unwrap_or(&k);
    DEVICES.iter().find(|d| key(d.name) == k).or_else(|| {
        DEVICES
            .iter()
            .find(|d| d.default_for_family && key(d.family) == k)
    })
}

/// A table row by canonical name only.
pub fn by_name(name: &str) -> Option<&'static DeviceKind> {
    DEVICES.iter().find(|d| d.name == name)
}

/// Match an NVML name (`NVIDIA H100 80GB HBM3`) and total memory to a table row: the rows whose
/// family appears in the name, closest in memory. `None` when no family matches.
pub fn kind_for_detected(nvml_name: &str, total_bytes: u64) -> Option<&'static str> {
    let words: Vec<String> = nvml_name.split([' ', '-']).map(key).collect();
    let family_in = |d: &DeviceKind| {
        let f = key(d.family);
        words
            .iter()
            .any(|w| *w == f || (f.starts_with("rtx") && *w == f["rtx".len()..]))
    };
    DEVICES
        .iter()
        .filter(|d| family_in(d))
        .min_by_key(|d| (d.memory_mib * MIB).abs_diff(total_bytes))
        .map(|d| d.name)
}

/// Up to three known names closest to `name` (edit distance on normalised keys), else all names.
pub fn close_names(name: &str) -> Vec<String> {
    let names: Vec<&str> = DEVICES.iter().map(|d| d.name).collect();
    let close = crate::suggest::closest(name, names.iter().copied(), 3);
    if close.is_empty() {
        names.iter().map(|s| s.to_string()).collect()
    } else {
        close
    }
}

impl ClusterSpec {
    /// GPUs numbered 0.. in group order, empty (free = total), each group one NVLink group.
    pub fn into_inventory(self, cpu: CpuHost) -> Inventory {
        let mut gpus = Vec::new();
        for group in &self.groups {
            let first = gpus.len() as u32;
            let members: Vec<u32> = (first..first + group.count).collect();
            for &index in &members {
                gpus.push(Gpu {
                    index,
                    name: group.name.clone(),
                    kind: group.kind,
                    uuid: None,
                    memory_total: group.memory_bytes,
                    memory_free: group.memory_bytes,
                    memory_used: 0,
                    power_watts: None,
                    power_limit_watts: None,
                    compute_capability: None,
                    nvlink_peers: members.iter().copied().filter(|&m| m != index).collect(),
                });
            }
        }
        Inventory {
            source: Source::Described,
            gpus,
            cpu,
            notice: None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::hardware::cpu::tests::host;

    #[test]
    fn parses_named_groups() {
        let spec = parse("2xA100-40GB, 1xL4-24GB").unwrap();
        assert_eq!(spec.groups.len(), 2);
        assert_eq!(spec.groups[0].count, 2);
        assert_eq!(spec.groups[0].memory_bytes, 40_960 * MIB);
        assert_eq!(spec.groups[1].kind, Some("L4-24GB"));
        assert_eq!(
            parse("8xh100 80gb").unwrap().groups[0].kind,
            Some("H100-80GB")
        );
        assert_eq!(
            parse("1xH100-94GB(NVL)").unwrap().groups[0].kind,
            Some("H100-94GB")
        );
    }

    #[test]
    fn family_alone_uses_the_default_row_and_sizes_work() {
        assert_eq!(parse("8xH100").unwrap().groups[0].kind, Some("H100-80GB"));
        assert_eq!(parse("H200").unwrap().groups[0].count, 1);
        let g = &parse("4x48GB").unwrap().groups[0];
        assert_eq!((g.count, g.kind, g.memory_bytes), (4, None, 48 * GIB));
    }

    #[test]
    fn unknown_names_list_close_ones() {
        let err = parse("8xH10-80GB").unwrap_err();
        let SpecError::UnknownGpu { close, .. } = &err else {
            panic!("{err}")
        };
        assert!(close.contains(&"H100-80GB".to_string()), "{close:?}");
        assert!(err.to_string().contains("H100-80GB"));
        assert!(matches!(parse("0xH100"), Err(SpecError::BadGroup { .. })));
        assert!(matches!(parse("8x"), Err(SpecError::BadGroup { .. })));
        assert!(matches!(parse(" , "), Err(SpecError::Empty)));
        assert!(matches!(parse("2xFOO"), Err(SpecError::UnknownGpu { .. })));
    }

    #[test]
    fn groups_become_nvlink_groups() {
        let inv = parse("2xA100-40GB,2xL4")
            .unwrap()
            .into_inventory(host(4, 16));
        assert_eq!(inv.gpus.len(), 4);
        assert_eq!(inv.gpus[0].nvlink_peers, vec![1]);
        assert_eq!(inv.gpus[3].nvlink_peers, vec![2]);
        assert_eq!(inv.nvlink_groups(), vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn detected_names_map_to_table_rows() {
        assert_eq!(
            kind_for_detected("NVIDIA H100 80GB HBM3", 81_559 * MIB),
            Some("H100-80GB")
        );
        assert_eq!(
            kind_for_detected("NVIDIA H100 NVL", 95_830 * MIB),
            Some("H100-94GB")
        );
        assert_eq!(
            kind_for_detected("NVIDIA A100-SXM4-40GB", 40_960 * MIB),
            Some("A100-40GB")
        );
        assert_eq!(
            kind_for_detected("NVIDIA GeForce RTX 4090", 24_564 * MIB),
            Some("RTX4090-24GB")
        );
        assert_eq!(
            kind_for_detected("NVIDIA L4", 23_034 * MIB),
            Some("L4-24GB")
        );
        assert_eq!(kind_for_detected("Quadro P1000", 4096 * MIB), None);
    }
}
