//! The CPU host: model name and core count from `/proc/cpuinfo` (falling back to the standard
//! library's parallelism), total and available RAM from `/proc/meminfo`. Never fails: unknown
//! values become "unknown" or zero so that planning still runs and says why it cannot place.
use super::CpuHost;

/// Read the host's CPU and memory.
pub fn detect() -> CpuHost {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    let (memory_total, memory_available) = parse_meminfo(&meminfo);
    CpuHost {
        model: parse_model(&cpuinfo),
        cores,
        memory_total,
        memory_available,
    }
}

/// The first `model name` line of `/proc/cpuinfo`.
fn parse_model(cpuinfo: &str) -> String {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".to_string())
}

/// `(MemTotal, MemAvailable)` in bytes; `MemAvailable` falls back to `MemFree` on old kernels.
fn parse_meminfo(meminfo: &str) -> (u64, u64) {
    let field = |name: &str| {
        meminfo.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix(':')?;
            let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            Some(kib * 1024)
        })
    };
    let total = field("MemTotal").unwrap_or(0);
    let available = field("MemAvailable")
        .or_else(|| field("MemFree"))
        .unwrap_or(0);
    (total, available)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::hardware::GIB;

    /// A CPU host with `gib` GiB of RAM, all of it available.
    pub(crate) fn host(cores: u32, gib: u64) -> CpuHost {
        CpuHost {
            model: "Test CPU".into(),
            cores,
            memory_total: gib * GIB,
            memory_available: gib * GIB,
        }
    }

    #[test]
    fn parses_proc_files() {
        let meminfo =
            "MemTotal:       24576000 kB\nMemFree:         1000 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(
            parse_meminfo(meminfo),
            (24_576_000 * 1024, 20_000_000 * 1024)
        );
        assert_eq!(
            parse_meminfo("MemTotal: 2048 kB\nMemFree: 1024 kB\n"),
            (2048 * 1024, 1024 * 1024)
        );
        let cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t: avx\n";
        assert_eq!(parse_model(cpuinfo), "AMD EPYC 9R14");
        assert_eq!(parse_model(""), "unknown CPU");
    }

    #[test]
    fn detect_reads_this_host() {
        let host = detect();
        assert!(host.cores >= 1);
        assert!(
            host.memory_total > 0,
            "/proc/meminfo should give MemTotal on Linux"
        );
    }
}
