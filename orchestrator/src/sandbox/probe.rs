//! Which protections this host can give a sandboxed program, found by trying each one.
//!
//! Nothing is assumed from the kernel version or the distribution: each namespace is tried in a
//! throw-away child process, the cgroup `pids` controller is tried by creating (and removing) a
//! child group, and the result says in words what a program started here will and will not get.

use std::path::{Path, PathBuf};

/// Name of the cgroup directory that holds one child group per sandbox slot.
pub(crate) const CGROUP_DIR: &str = "assay-sandbox";

/// The protections available on this host, as probed at start-up.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Protections {
    /// Running as root: programs get a dedicated unprivileged uid per slot.
    pub root: bool,
    /// `unshare(CLONE_NEWUSER)` works (used when not root).
    pub user_namespace: bool,
    /// A private network namespace (only a down loopback device: nothing is reachable).
    pub network_namespace: bool,
    /// A private mount namespace (a private size-limited `/tmp`, home directories hidden).
    pub mount_namespace: bool,
    /// A private pid namespace (the program cannot see or signal host processes, and everything
    /// it starts dies with it).
    pub pid_namespace: bool,
    /// A cgroup whose `pids.max` bounds the number of processes per program.
    pub cgroup_pids: Option<CgroupDir>,
    /// A cgroup whose memory limit bounds the memory of all the program's processes together.
    pub cgroup_memory: Option<CgroupDir>,
    /// A seccomp filter that refuses every socket family but `AF_UNIX` (and io_uring).
    pub seccomp: bool,
}

impl Protections {
    /// Probe the running host. Costs a few short-lived child processes.
    pub fn probe() -> Protections {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let ns = libc::CLONE_NEWNS
            | libc::CLONE_NEWNET
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUTS;
        let user_namespace = try_in_child(|| unshare(libc::CLONE_NEWUSER));
        // Root unshares directly; anyone else needs a user namespace to own the others.
        let all = if root { ns } else { ns | libc::CLONE_NEWUSER };
        let (network_namespace, mount_namespace, pid_namespace) =
            if (root || user_namespace) && try_in_child(|| unshare(all)) {
                (true, true, true)
            } else {
                let with_user = if root { 0 } else { libc::CLONE_NEWUSER };
                (
                    try_in_child(|| unshare(with_user | libc::CLONE_NEWNET)),
                    try_in_child(|| unshare(with_user | libc::CLONE_NEWNS)),
                    try_in_child(|| unshare(with_user | libc::CLONE_NEWPID)),
                )
            };
        Protections {
            root,
            user_namespace,
            network_namespace,
            mount_namespace,
            pid_namespace,
            cgroup_pids: find_cgroup("pids"),
            cgroup_memory: find_cgroup("memory"),
            seccomp: super::isolate::SECCOMP_SUPPORTED
                && try_in_child(super::isolate::install_seccomp_in_child),
        }
    }

    /// No network for the program: a private network namespace or the seccomp socket filter.
    pub fn network_isolated(&self) -> bool {
        self.network_namespace || self.seccomp
    }

    /// Whether a limit on the number of processes binds the program: a `pids` cgroup, or
    /// `RLIMIT_NPROC` on a dedicated unprivileged uid (the kernel does not apply it to root,
    /// and for an ordinary user it counts every process that user runs).
    pub fn process_limit_binds(&self) -> bool {
        self.cgroup_pids.is_some() || (self.root && self.pid_namespace)
    }

    /// One line per protection, active or not, for the start-up notice.
    pub fn describe(&self) -> Vec<String> {
        let on = |b: bool| if b { "on " } else { "OFF" };
        let mut lines = vec![
            format!(
                "{} unprivileged user: {}",
                on(self.root || self.user_namespace),
                if self.root {
                    "a dedicated uid per slot, no groups, no capabilities"
                } else if self.user_namespace {
                    "your own uid inside a user namespace (files you own stay readable)"
                } else {
                    "none: the program runs as you"
                }
            ),
            format!(
                "{} network: {}",
                on(self.network_isolated()),
                match (self.network_namespace, self.seccomp) {
                    (true, true) =>
                        "private network namespace (no interfaces up) and a seccomp filter on sockets",
                    (true, false) => "private network namespace (no interfaces up)",
                    (false, true) => "seccomp filter refusing every socket but AF_UNIX",
                    (false, false) => "NOT isolated: the program can reach the network",
                }
            ),
            format!(
                "{} filesystem: {}",
                on(self.mount_namespace),
                if self.mount_namespace {
                    "private mounts: /tmp is a private size-limited tmpfs (the only writable place); homes, /run, /var/tmp, /dev/shm hidden"
                } else {
                    "shared: only file permissions protect the host"
                }
            ),
            format!(
                "{} processes: {}",
                on(self.pid_namespace),
                if self.pid_namespace {
                    "private pid namespace; everything the program starts dies with it"
                } else {
                    "shared pid namespace; the process group is killed at the end"
                }
            ),
        ];
        lines.push(match &self.cgroup_pids {
            Some(cg) => format!("on  process count: cgroup pids.max under {}", cg.dir.display()),
            None if self.process_limit_binds() => {
                "on  process count: RLIMIT_NPROC on the dedicated uid".to_string()
            }
            None => "OFF process count: no pids cgroup and no dedicated uid; a fork bomb is not contained".to_string(),
        });
        lines.push(match &self.cgroup_memory {
            Some(cg) => format!("on  total memory: cgroup limit under {}", cg.dir.display()),
            None => "OFF total memory: no memory cgroup; only the per-process address-space limit applies".to_string(),
        });
        lines.push(
            "on  rlimits: CPU seconds, address space, processes, file size, open files; wall-clock kill".to_string(),
        );
        lines
    }
}

fn unshare(flags: libc::c_int) -> bool {
    // SAFETY: unshare only changes the calling process's namespaces; it runs in a throw-away child.
    unsafe { libc::unshare(flags) == 0 }
}

/// Run `f` in a forked child and report whether it returned true. The child only makes
/// async-signal-safe calls (unshare, prctl) and leaves with `_exit`.
fn try_in_child(f: impl Fn() -> bool) -> bool {
    // SAFETY: the child calls only `f` (async-signal-safe syscalls) and `_exit`; the parent
    // reaps it with waitpid.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::_exit(if f() { 0 } else { 1 });
        }
        if pid < 0 {
            return false;
        }
        let mut status = 0;
        loop {
            if libc::waitpid(pid, &mut status, 0) == pid {
                break;
            }
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return false;
            }
        }
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    }
}

/// A cgroup controller this process can use for per-slot groups.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CgroupDir {
    /// `<our group>/assay-sandbox` in the controller's hierarchy; slots are groups inside it.
    pub dir: PathBuf,
    /// cgroup v2 (`pids.max`, `memory.max`) rather than v1 (`pids.max`, `memory.limit_in_bytes`).
    pub v2: bool,
}

impl CgroupDir {
    /// The file that sets the limit for `controller`.
    pub(crate) fn limit_file(&self, controller: &str) -> &'static str {
        match (controller, self.v2) {
            ("memory", false) => "memory.limit_in_bytes",
            ("memory", true) => "memory.max",
            _ => "pids.max",
        }
    }
}

/// Where this process may create per-slot groups for `controller` (`pids` or `memory`).
fn find_cgroup(controller: &str) -> Option<CgroupDir> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    // cgroup v1: a hierarchy with the controller, mounted at /sys/fs/cgroup/<controller>.
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if controllers.split(',').any(|c| c == controller) {
            let base = Path::new("/sys/fs/cgroup")
                .join(controller)
                .join(path.trim_start_matches('/'));
            let cg = CgroupDir {
                dir: base.join(CGROUP_DIR),
                v2: false,
            };
            if try_create(&cg, controller) {
                return Some(cg);
            }
        }
    }
    // cgroup v2: the controller must be enabled for our group's children.
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    for mount in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        let base = Path::new(mount).join(path.trim_start_matches('/'));
        let enabled =
            std::fs::read_to_string(base.join("cgroup.subtree_control")).unwrap_or_default();
        if enabled.split_whitespace().any(|c| c == controller) {
            let cg = CgroupDir {
                dir: base.join(CGROUP_DIR),
                v2: true,
            };
            if try_create(&cg, controller) {
                return Some(cg);
            }
        }
    }
    None
}

/// Create `cg.dir` (kept) and a probe group inside it (removed again) whose limit can be set.
fn try_create(cg: &CgroupDir, controller: &str) -> bool {
    if !cg.dir.is_dir() && std::fs::create_dir(&cg.dir).is_err() {
        return false;
    }
    if cg.v2 {
        // Children of assay-sandbox need the controller too.
        let _ = std::fs::write(
            cg.dir.join("cgroup.subtree_control"),
            format!("+{controller}"),
        );
    }
    let probe = cg.dir.join(format!("probe-{}", std::process::id()));
    let _ = std::fs::create_dir(&probe);
    let ok = std::fs::write(probe.join(cg.limit_file(controller)), "67108864").is_ok();
    let _ = std::fs::remove_dir(&probe);
    ok
}
