//! `assay gpus [--gpus SPEC]`: the GPUs NVML sees (after `CUDA_VISIBLE_DEVICES`), the CPU host
//! when there are none, or a described cluster.
//!
//! `--json` prints the inventory object:
//! - `source`: `nvml` | `described` | `cpu`
//! - `gpus[]`: `index`, `name`, `kind` (device-table row or null), `uuid`, `memory_total`,
//!   `memory_free`, `memory_used` (bytes), `power_watts`, `power_limit_watts`,
//!   `compute_capability` (`[major, minor]` or null), `nvlink_peers` (indices), `usable_bytes`
//! - `cpu`: `model`, `cores`, `memory_total`, `memory_available` (bytes), `usable_bytes`
//! - `nvlink_groups`: lists of GPU indices linked by NVLink (connected components)
//! - `notice` (only when set): why there are no GPUs
use crate::cli::GpusArgs;
use crate::error::{EXIT_OK, InputError};
use crate::hardware::{self, GIB, Gpu, Inventory};
use crate::printer::Printer;

#[derive(serde::Serialize)]
struct GpuOut<'a> {
    #[serde(flatten)]
    gpu: &'a Gpu,
    usable_bytes: u64,
}

#[derive(serde::Serialize)]
struct CpuOut<'a> {
    #[serde(flatten)]
    cpu: &'a hardware::CpuHost,
    usable_bytes: u64,
}

#[derive(serde::Serialize)]
struct InventoryOut<'a> {
    source: hardware::Source,
    gpus: Vec<GpuOut<'a>>,
    cpu: CpuOut<'a>,
    nvlink_groups: Vec<Vec<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notice: Option<&'a str>,
}

pub fn run(args: &GpusArgs, printer: &Printer) -> anyhow::Result<u8> {
    let inv = hardware::inventory(args.gpus.as_deref()).map_err(|e| InputError(e.to_string()))?;
    if let Some(notice) = &inv.notice {
        printer.notice(notice);
    }
    if printer.json {
        printer.json(&to_out(&inv))?;
    } else {
        print_human(&inv, printer)?;
    }
    Ok(EXIT_OK)
}

fn to_out(inv: &Inventory) -> InventoryOut<'_> {
    InventoryOut {
        source: inv.source,
        gpus: inv
            .gpus
            .iter()
            .map(|gpu| GpuOut {
                gpu,
                usable_bytes: gpu.usable_bytes(),
            })
            .collect(),
        cpu: CpuOut {
            cpu: &inv.cpu,
            usable_bytes: inv.cpu.usable_bytes(),
        },
        nvlink_groups: inv
            .nvlink_groups()
            .into_iter()
            .map(|g| g.into_iter().map(|i| inv.gpus[i].index).collect())
            .collect(),
        notice: inv.notice.as_deref(),
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / GIB as f64)
}

fn print_human(inv: &Inventory, printer: &Printer) -> anyhow::Result<()> {
    let c = &inv.cpu;
    let host = format!(
        "CPU host: {}, {} cores, {} GiB RAM ({} GiB available, {} GiB usable)",
        c.model,
        c.cores,
        gib(c.memory_total),
        gib(c.memory_available),
        gib(c.usable_bytes())
    );
    if inv.gpus.is_empty() {
        return printer.line(format!(
            "{host}\nno GPUs: the lightweight engine runs on the CPU"
        ));
    }
    let rows: Vec<Vec<String>> = inv.gpus.iter().map(gpu_row).collect();
    printer.table(
        &[
            "index",
            "name",
            "total GiB",
            "free GiB",
            "used GiB",
            "usable GiB",
            "power W",
            "cc",
            "nvlink peers",
        ],
        &rows,
    )?;
    printer.line(host)
}

fn gpu_row(g: &Gpu) -> Vec<String> {
    let power = match (g.power_watts, g.power_limit_watts) {
        (Some(p), Some(l)) => format!("{p:.0}/{l:.0}"),
        (Some(p), None) => format!("{p:.0}"),
        _ => "-".into(),
    };
    let cc = g
        .compute_capability
        .map_or("-".into(), |(a, b)| format!("{a}.{b}"));
    let peers = if g.nvlink_peers.is_empty() {
        "-".into()
    } else {
        g.nvlink_peers
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    vec![
        g.index.to_string(),
        g.name.clone(),
        gib(g.memory_total),
        gib(g.memory_free),
        gib(g.memory_used),
        gib(g.usable_bytes()),
        power,
        cc,
        peers,
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::hardware::{cpu, spec};

    #[test]
    fn described_cluster_json_names_fields_and_groups() {
        let inv = spec::parse("2xA100-40GB,1xL4")
            .unwrap()
            .into_inventory(cpu::tests::host(4, 16));
        let v = serde_json::to_value(to_out(&inv)).unwrap();
        assert_eq!(v["source"], "described");
        assert_eq!(v["gpus"][0]["name"], "A100-40GB");
        assert_eq!(v["gpus"][0]["memory_total"], 40_960u64 << 20);
        assert!(v["gpus"][0]["usable_bytes"].is_u64());
        assert_eq!(v["nvlink_groups"], serde_json::json!([[0, 1], [2]]));
        assert_eq!(v["cpu"]["cores"], 4);
        assert!(v.get("notice").is_none());
        let row = gpu_row(&inv.gpus[2]);
        assert_eq!((row[1].as_str(), row[8].as_str()), ("L4-24GB", "-"));
    }
}
