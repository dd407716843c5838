//! GPUs from NVML, loaded at run time (`libnvidia-ml.so.1`); no link-time dependency on the driver.
//!
//! Reads name, UUID, memory (total/free/used), power draw and limit, compute capability and the
//! active NVLinks (matched to peers by PCI bus id). `CUDA_VISIBLE_DEVICES` is honoured the way
//! CUDA does: a comma-separated list of indices or UUIDs (`GPU-…`, unique prefixes allowed), in the
//! order given, stopping at the first entry that names no device; set but empty means no GPUs.
//! The visible GPUs are renumbered 0.. as CUDA will number them in this process.
use super::{Gpu, spec};
use nvml_wrapper::Nvml;
use nvml_wrapper::error::NvmlError;

/// NVML's `NVML_NVLINK_MAX_LINKS`.
const MAX_NVLINKS: u32 = 18;

/// Enumerate the visible GPUs. `Err` when NVML cannot be loaded or initialised (no driver).
pub fn detect(visible: Option<&str>) -> Result<Vec<Gpu>, NvmlError> {
    let nvml = Nvml::init()?;
    let count = nvml.device_count()?;
    let mut all = Vec::new();
    for i in 0..count {
        let device = nvml.device_by_index(i)?;
        all.push(read_device(&device, i)?);
    }
    let bus_ids: Vec<Option<String>> = (0..count)
        .map(|i| {
            nvml.device_by_index(i)
                .ok()
                .and_then(|d| d.pci_info().ok())
                .map(|p| normalise_bus_id(&p.bus_id))
        })
        .collect();
    for (i, gpu) in all.iter_mut().enumerate() {
        if let Ok(device) = nvml.device_by_index(i as u32) {
            gpu.nvlink_peers = nvlink_peers(&device, &bus_ids);
        }
    }
    let uuids: Vec<String> = all
        .iter()
        .map(|g| g.uuid.clone().unwrap_or_default())
        .collect();
    Ok(renumber(all, &select_visible(visible, &uuids)))
}

fn read_device(device: &nvml_wrapper::Device<'_>, index: u32) -> Result<Gpu, NvmlError> {
    let name = device.name()?;
    let memory = device.memory_info()?;
    Ok(Gpu {
        index,
        kind: spec::kind_for_detected(&name, memory.total),
        name,
        uuid: device.uuid().ok(),
        memory_total: memory.total,
        memory_free: memory.free,
        memory_used: memory.used,
        power_watts: device.power_usage().ok().map(|mw| mw as f64 / 1000.0),
        power_limit_watts: device
            .enforced_power_limit()
            .ok()
            .map(|mw| mw as f64 / 1000.0),
        compute_capability: device
            .cuda_compute_capability()
            .ok()
            .map(|c| (c.major, c.minor)),
        nvlink_peers: vec![],
    })
}

/// NVML indices of the GPUs at the far end of this device's active NVLinks.
fn nvlink_peers(device: &nvml_wrapper::Device<'_>, bus_ids: &[Option<String>]) -> Vec<u32> {
    let mut peers = Vec::new();
    for link in 0..MAX_NVLINKS {
        let wrapper = device.link_wrapper_for(link);
        if !matches!(wrapper.is_active(), Ok(true)) {
            continue;
        }
        let Ok(remote) = wrapper.remote_pci_info() else {
            continue;
        };
        let remote = normalise_bus_id(&remote.bus_id);
        if let Some(peer) = bus_ids
            .iter()
            .position(|b| b.as_deref() == Some(remote.as_str()))
        {
            peers.push(peer as u32);
        }
    }
    peers.sort_unstable();
    peers.dedup();
    peers
}

/// NVML reports bus ids with an 8- or 4-digit domain; compare on the last `bus:device.function`.
fn normalise_bus_id(bus_id: &str) -> String {
    let lower = bus_id.trim_end_matches('\0').to_ascii_lowercase();
    let parts: Vec<&str> = lower.split(':').collect();
    parts[parts.len().saturating_sub(2)..].join(":")
}

/// Positions in NVML order of the GPUs `CUDA_VISIBLE_DEVICES` makes visible, in CUDA order.
pub fn select_visible(visible: Option<&str>, uuids: &[String]) -> Vec<usize> {
    let Some(list) = visible else {
        return (0..uuids.len()).collect();
    };
    let mut chosen: Vec<usize> = Vec::new();
    for entry in list.split(',').map(str::trim) {
        let found = if let Ok(i) = entry.parse::<usize>() {
            (i < uuids.len()).then_some(i)
        } else {
            let want = entry
                .strip_prefix("GPU-")
                .unwrap_or(entry)
                .to_ascii_lowercase();
            let matches: Vec<usize> = (0..uuids.len())
                .filter(|&i| {
                    let have = uuids[i]
                        .strip_prefix("GPU-")
                        .unwrap_or(&uuids[i])
                        .to_ascii_lowercase();
                    !want.is_empty() && have.starts_with(&want)
                })
                .collect();
            (matches.len() == 1).then(|| matches[0])
        };
        match found {
            Some(i) if !chosen.contains(&i) => chosen.push(i),
            Some(_) => {}
            None => break, // CUDA ignores everything from the first invalid entry on.
        }
    }
    chosen
}

/// Keep `chosen` (NVML positions, in CUDA order), renumber them 0.. and remap NVLink peers.
fn renumber(all: Vec<Gpu>, chosen: &[usize]) -> Vec<Gpu> {
    let new_index = |nvml_pos: u32| {
        chosen
            .iter()
            .position(|&c| c as u32 == nvml_pos)
            .map(|p| p as u32)
    };
    chosen
        .iter()
        .enumerate()
        .map(|(new, &old)| {
            let mut gpu = all[old].clone();
            gpu.index = new as u32;
            gpu.nvlink_peers = gpu
                .nvlink_peers
                .iter()
                .filter_map(|&p| new_index(p))
                .collect();
            gpu
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn uuids() -> Vec<String> {
        vec![
            "GPU-aaaa1111".into(),
            "GPU-bbbb2222".into(),
            "GPU-abcd3333".into(),
        ]
    }

    #[test]
    fn visible_devices_by_index_uuid_and_prefix() {
        assert_eq!(select_visible(None, &uuids()), vec![0, 1, 2]);
        assert_eq!(select_visible(Some(""), &uuids()), Vec::<usize>::new());
        assert_eq!(select_visible(Some("2,0"), &uuids()), vec![2, 0]);
        assert_eq!(select_visible(Some("GPU-bbbb2222"), &uuids()), vec![1]);
        assert_eq!(select_visible(Some("bbbb"), &uuids()), vec![1]);
        // `GPU-a` is ambiguous (two UUIDs start with it): CUDA stops there.
        assert_eq!(select_visible(Some("1,GPU-a,0"), &uuids()), vec![1]);
        // An out-of-range index stops the list too.
        assert_eq!(select_visible(Some("0,7,1"), &uuids()), vec![0]);
    }

    #[test]
    fn renumbering_remaps_nvlink_peers() {
        let mut gpus: Vec<Gpu> = (0..3)
            .map(|i| crate::hardware::tests::gpu(i, 1024, 1024))
            .collect();
        gpus[2].nvlink_peers = vec![0, 1];
        gpus[0].nvlink_peers = vec![2];
        let out = renumber(gpus, &[2, 0]);
        assert_eq!(out.iter().map(|g| g.index).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(out[0].nvlink_peers, vec![1]);
        assert_eq!(out[1].nvlink_peers, vec![0]);
    }

    #[test]
    fn bus_ids_compare_without_domain_width() {
        assert_eq!(
            normalise_bus_id("00000000:3B:00.0"),
            normalise_bus_id("0000:3b:00.0")
        );
    }

    #[test]
    fn without_a_driver_detection_is_an_error_not_a_panic() {
        // On a host with a driver this returns the GPUs instead; both are fine, a panic is not.
        match detect(None) {
            Err(e) => assert!(!e.to_string().is_empty()),
            Ok(gpus) => assert!(gpus.iter().enumerate().all(|(i, g)| g.index as usize == i)),
        }
    }
}
