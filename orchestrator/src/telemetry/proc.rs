//! A process's resident memory and CPU time from `/proc/<pid>/status` and `/proc/<pid>/stat`.

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcReading {
    pub rss_bytes: u64,
    /// User plus system CPU time, in seconds.
    pub cpu_s: f64,
}

/// Read `pid`'s RSS and CPU time; `None` when the process is gone or `/proc` is absent.
pub fn read_proc(pid: u32) -> Option<ProcReading> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(ProcReading {
        rss_bytes: parse_rss_kb(&status)? * 1024,
        cpu_s: parse_cpu_ticks(&stat)? as f64 / clock_ticks(),
    })
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

fn parse_rss_kb(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// utime + stime: fields 14 and 15, counted after the `(comm)` field (which may hold spaces).
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state), so field n is at index n - 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_status_and_stat() {
        assert_eq!(parse_rss_kb("Name:\tx\nVmRSS:\t  1234 kB\n"), Some(1234));
        let stat = "42 (a worker (x)) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
    }

    #[test]
    fn reads_this_process() {
        let r = read_proc(std::process::id()).unwrap();
        assert!(r.rss_bytes > 0);
        assert!(r.cpu_s >= 0.0);
    }
}
