//! Process isolation: the per-slot identity (uid, cgroup) and the code that runs between `fork`
//! and `exec` to put a program into its namespaces, mounts, limits and unprivileged user.
//!
//! The child side runs in a forked copy of a multi-threaded process, so it may only make
//! async-signal-safe system calls: everything it needs (paths as C strings, the uid map, the
//! seccomp program) is prepared beforehand in [`ChildSetup`], and it never allocates.
//!
//! Process layout of one run (`S` is the process `std::process::Command` forks):
//! ```text
//! assay ── S: setsid, join the slot cgroup, unshare(net, mount, pid, ipc, uts[, user]),
//!             fork, then only waits for its child and exits with its status
//!          └── P (pid 1 of the new pid namespace): private mounts, rlimits,
//!                  drop to the slot uid, no_new_privs, seccomp, exec the interpreter
//! ```
//! Killing the process group of `S` kills `P`, and when `P` (the namespace's init) dies the
//! kernel kills every process left in the namespace, including ones that left the group.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use super::probe::{CgroupDir, Protections};
use super::{Limits, SandboxError};

/// First uid of the range handed to sandbox slots (one uid per slot, never a real account).
pub(crate) const UID_BASE: u32 = 0x7000_0000;
/// Number of uids in the range (slots a host can run at once, across processes).
const UID_RANGE: u32 = 4096;
/// Where the interpreter's installation appears to the program (read-only).
pub(crate) const INTERPRETER_DIR: &std::ffi::CStr = c"/tmp/.interpreter";
/// Where the work dir (runner and program) appears to the program (read-only).
pub(crate) const PROGRAM_DIR: &std::ffi::CStr = c"/tmp/.program";

/// One slot: an unprivileged uid owned by this process (by `flock` on a lock file, released
/// when the process dies) and, where available, cgroups that bound its processes and memory.
#[derive(Debug)]
pub(crate) struct Slot {
    pub uid: u32,
    /// The slot's `pids` group, if any.
    pub pids: Option<PathBuf>,
    /// The slot's `memory` group and whether it is cgroup v2, if any.
    pub memory: Option<(PathBuf, bool)>,
    _lock: File,
}

impl Slot {
    /// Take the first free uid of the range and set up its cgroups.
    pub fn acquire(p: &Protections, limits: &Limits) -> Result<Slot, SandboxError> {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        let dir = std::env::temp_dir().join(format!("assay-sandbox-slots-{euid}"));
        std::fs::create_dir_all(&dir).map_err(|e| SandboxError::io("create", &dir, e))?;
        for i in 0..UID_RANGE {
            let uid = UID_BASE + i;
            let path = dir.join(format!("{uid}.lock"));
            let file = File::create(&path).map_err(|e| SandboxError::io("create", &path, e))?;
            // SAFETY: flock on a file descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                continue;
            }
            let name = format!("uid-{uid}");
            let pids = match &p.cgroup_pids {
                Some(cg) => Some(make_group(cg, &name, "pids", limits.max_processes)?),
                None => None,
            };
            let memory = match &p.cgroup_memory {
                Some(cg) => {
                    let dir = make_group(cg, &name, "memory", limits.memory_bytes)?;
                    if !cg.v2 {
                        // No swapping around the limit (fails harmlessly without swap accounting).
                        let memsw = dir.join("memory.memsw.limit_in_bytes");
                        let _ = std::fs::write(&memsw, limits.memory_bytes.to_string());
                    }
                    Some((dir, cg.v2))
                }
                None => None,
            };
            let slot = Slot {
                uid,
                pids,
                memory,
                _lock: file,
            };
            // Anything left from an earlier holder of this uid that died is ours to end now.
            let survivors = slot.sweep(std::time::Duration::from_secs(2));
            if !survivors.is_empty() {
                return Err(SandboxError::Leftover {
                    uid,
                    pids: survivors,
                });
            }
            return Ok(slot);
        }
        Err(SandboxError::NoFreeSlot {
            first: UID_BASE,
            count: UID_RANGE,
        })
    }

    /// The slot's groups (each has a `cgroup.procs` the program joins).
    pub fn groups(&self) -> impl Iterator<Item = &PathBuf> {
        self.pids
            .iter()
            .chain(self.memory.iter().map(|(dir, _)| dir))
    }

    /// Pids still in the slot's cgroups (empty without one).
    pub fn remaining_pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .groups()
            .flat_map(|cg| {
                std::fs::read_to_string(cg.join("cgroup.procs"))
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect::<Vec<i32>>()
            })
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Processes the kernel's OOM killer has killed in this slot so far (cumulative).
    pub fn oom_kills(&self) -> u64 {
        let Some((dir, v2)) = &self.memory else {
            return 0;
        };
        let file = if *v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        std::fs::read_to_string(dir.join(file))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Kill whatever is left in the slot and wait (up to `patience`) until it is gone.
    /// Returns the pids that survived (none, unless the kernel is slow or something escaped).
    pub fn sweep(&self, patience: std::time::Duration) -> Vec<i32> {
        let start = std::time::Instant::now();
        loop {
            let pids = self.remaining_pids();
            if pids.is_empty() || start.elapsed() > patience {
                return pids;
            }
            for pid in pids {
                // SAFETY: kill(2) on a pid read from our own slot cgroup.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

/// Create (or reuse) the slot group `name` under `cg` and set its limit.
fn make_group(
    cg: &CgroupDir,
    name: &str,
    controller: &str,
    limit: u64,
) -> Result<PathBuf, SandboxError> {
    let dir = cg.dir.join(name);
    if !dir.is_dir() {
        std::fs::create_dir(&dir).map_err(|e| SandboxError::io("create cgroup", &dir, e))?;
    }
    let file = dir.join(cg.limit_file(controller));
    std::fs::write(&file, limit.to_string()).map_err(|e| SandboxError::io("write", &file, e))?;
    Ok(dir)
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.remaining_pids().is_empty() {
            for cg in self.groups() {
                let _ = std::fs::remove_dir(cg);
            }
        }
    }
}

/// Everything the child needs, prepared before `fork` so that the child never allocates.
pub(crate) struct ChildSetup {
    pub mode: Mode,
    pub uid: u32,
    /// `cgroup.procs` of each of the slot's groups, opened for writing (close-on-exec).
    pub cgroup_procs: Vec<OwnedFd>,
    /// Host paths of the work dir (runner and program, read-only to the program) and of the
    /// interpreter's installation. The child opens them before the tmpfs over `/tmp` hides
    /// them, and binds them from `/proc/self/fd/N`.
    workdir: CString,
    interpreter: CString,
    /// Options of the tmpfs that becomes `/tmp` (size limit, owned by the program's uid).
    tmpfs_opts: CString,
    /// Existing directories covered by an empty read-only tmpfs.
    pub hide: Vec<CString>,
    /// Pipe ends the program keeps across exec (result write end, nonce read end), owned here
    /// so that the parent's copies close when the command is dropped after spawning.
    _keep: [OwnedFd; 2],
    keep_fds: [RawFd; 2],
    /// `(resource, soft, hard)`.
    pub rlimits: Vec<(libc::__rlimit_resource_t, libc::rlim_t, libc::rlim_t)>,
    pub seccomp: bool,
    /// `setgroups`, `uid_map`, `gid_map` contents for the user-namespace mode.
    pub uid_map: CString,
    pub gid_map: CString,
}

/// How the program is isolated on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Root: namespaces without a user namespace, then a dedicated unprivileged uid.
    Privileged,
    /// Not root: a user namespace mapping our own uid; the whole tree is remounted read-only.
    UserNamespace,
    /// No namespaces: rlimits, process group, seccomp (and a dedicated uid when root).
    Bare,
}

impl Mode {
    pub fn choose(p: &Protections) -> Mode {
        let ns = p.network_namespace && p.mount_namespace && p.pid_namespace;
        match (ns, p.root) {
            (true, true) => Mode::Privileged,
            (true, false) => Mode::UserNamespace,
            (false, _) => Mode::Bare,
        }
    }
}

fn cstr(p: &Path) -> Result<CString, SandboxError> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| SandboxError::Setup(format!("path {} contains a NUL byte", p.display())))
}

impl ChildSetup {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        mode: Mode,
        slot: &Slot,
        workdir: &Path,
        interpreter_prefix: &Path,
        keep: [OwnedFd; 2],
        limits: &Limits,
        seccomp: bool,
    ) -> Result<ChildSetup, SandboxError> {
        let mut cgroup_procs = Vec::new();
        for cg in slot.groups() {
            let path = cg.join("cgroup.procs");
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| SandboxError::io("open", &path, e))?;
            cgroup_procs.push(OwnedFd::from(f));
        }
        let mut hide = Vec::new();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let candidates = [
            "/root", "/home", "/run", "/var/tmp", "/dev/shm", "/mnt", "/media", "/srv",
        ];
        for dir in candidates.iter().map(PathBuf::from).chain(home) {
            let real_dir = std::fs::symlink_metadata(&dir)
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if real_dir
                && dir != Path::new("/")
                && dir != Path::new("/tmp")
                && !hide.contains(&cstr(&dir)?)
            {
                hide.push(cstr(&dir)?);
            }
        }
        // SAFETY: getuid/getgid have no preconditions.
        let (own_uid, own_gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let same = |r, v: u64| (r, v as libc::rlim_t, v as libc::rlim_t);
        // CPU: SIGXCPU at the soft limit (reported as a timeout), SIGKILL a second later.
        let cpu = limits.cpu_seconds as libc::rlim_t;
        let rlimits = vec![
            (libc::RLIMIT_CPU, cpu, cpu + 1),
            same(libc::RLIMIT_AS, limits.address_space_bytes),
            same(libc::RLIMIT_NPROC, limits.max_processes),
            same(libc::RLIMIT_FSIZE, limits.file_size_bytes),
            same(libc::RLIMIT_NOFILE, limits.open_files),
            same(libc::RLIMIT_CORE, 0),
        ];
        let map = |s: String| CString::new(s).map_err(|_| SandboxError::Setup("uid map".into()));
        let owner = if mode == Mode::Privileged {
            (slot.uid, slot.uid)
        } else {
            (own_uid, own_gid)
        };
        let tmpfs_opts = map(format!(
            "size={},nr_inodes=16384,mode=0700,uid={},gid={}",
            limits.disk_bytes, owner.0, owner.1
        ))?;
        Ok(ChildSetup {
            mode,
            uid: slot.uid,
            cgroup_procs,
            workdir: cstr(workdir)?,
            interpreter: cstr(interpreter_prefix)?,
            tmpfs_opts,
            hide,
            keep_fds: [keep[0].as_raw_fd(), keep[1].as_raw_fd()],
            _keep: keep,
            rlimits,
            seccomp,
            uid_map: map(format!("{own_uid} {own_uid} 1"))?,
            gid_map: map(format!("{own_gid} {own_gid} 1"))?,
        })
    }

    /// Runs in the forked child (see the module docs). Returns only in the program process,
    /// ready for `exec`; the intermediate process never returns.
    ///
    /// # Safety
    /// Must be called only between `fork` and `exec`, as `CommandExt::pre_exec` does.
    pub unsafe fn in_child(&self) -> io::Result<()> {
        // SAFETY (whole body): each call is an async-signal-safe system call on data prepared
        // before the fork; on failure we return the errno and std reports it to the parent.
        unsafe {
            check(libc::setsid())?;
            // If assay dies mid-run, this process dies with it, and the program with this one.
            check(libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ))?;
            for fd in &self.cgroup_procs {
                check(libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) as libc::c_int)?;
            }
            let ns = libc::CLONE_NEWNS
                | libc::CLONE_NEWNET
                | libc::CLONE_NEWPID
                | libc::CLONE_NEWIPC
                | libc::CLONE_NEWUTS;
            match self.mode {
                Mode::Privileged => {
                    check(libc::unshare(ns))?;
                }
                Mode::UserNamespace => {
                    check(libc::unshare(ns | libc::CLONE_NEWUSER))?;
                    write_file(c"/proc/self/setgroups", b"deny")?;
                    write_file(c"/proc/self/uid_map", self.uid_map.as_bytes())?;
                    write_file(c"/proc/self/gid_map", self.gid_map.as_bytes())?;
                }
                Mode::Bare => {}
            }
            if self.mode != Mode::Bare {
                let pid = check(libc::fork())?;
                if pid > 0 {
                    wait_and_exit(pid);
                }
                self.mounts()?;
            }
            for &fd in &self.keep_fds {
                check(libc::fcntl(fd, libc::F_SETFD, 0))?;
            }
            for &(resource, soft, hard) in &self.rlimits {
                let lim = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                check(libc::setrlimit(resource, &lim))?;
            }
            if self.mode == Mode::Privileged || (self.mode == Mode::Bare && libc::geteuid() == 0) {
                check(libc::setgroups(0, std::ptr::null()))?;
                check(libc::setresgid(self.uid, self.uid, self.uid))?;
                check(libc::setresuid(self.uid, self.uid, self.uid))?;
            }
            // Die with the intermediate process if it is killed (cleared by setuid, so set after).
            check(libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ))?;
            check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
            if self.seccomp && !install_seccomp_in_child() {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }
    }

    /// Private mounts: `/tmp` becomes a fresh size-limited tmpfs (the only writable place),
    /// with the work dir (runner and program) and the interpreter bound read-only inside it;
    /// homes and other shared writable dirs are covered by an empty read-only tmpfs, and a
    /// fresh `/proc` shows only the namespace's processes.
    unsafe fn mounts(&self) -> io::Result<()> {
        let none = std::ptr::null::<libc::c_char>();
        let data = std::ptr::null::<libc::c_void>();
        let ro =
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV;
        // SAFETY: mount(2)/mkdir(2)/chdir(2) with NUL-terminated strings prepared before the fork.
        unsafe {
            check(libc::mount(
                none,
                c"/".as_ptr(),
                none,
                libc::MS_REC | libc::MS_PRIVATE,
                data,
            ))?;
            // Opened here, inside the new mount namespace: a bind source must belong to it.
            let path_flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
            let interpreter_fd = check(libc::open(self.interpreter.as_ptr(), path_flags))?;
            let workdir_fd = check(libc::open(self.workdir.as_ptr(), path_flags))?;
            let tmp_flags = libc::MS_NOSUID | libc::MS_NODEV;
            let opts = self.tmpfs_opts.as_ptr().cast();
            check(libc::mount(
                c"tmpfs".as_ptr(),
                c"/tmp".as_ptr(),
                c"tmpfs".as_ptr(),
                tmp_flags,
                opts,
            ))?;
            for (fd, dst) in [(interpreter_fd, INTERPRETER_DIR), (workdir_fd, PROGRAM_DIR)] {
                let mut buf = [0u8; 32];
                let src = fd_path(&mut buf, fd);
                check(libc::mkdir(dst.as_ptr(), 0o755))?;
                check(libc::mount(
                    src,
                    dst.as_ptr(),
                    none,
                    libc::MS_BIND | libc::MS_REC,
                    data,
                ))?;
                check(libc::mount(none, dst.as_ptr(), none, ro, data))?;
                libc::close(fd);
            }
            let tmpfs_flags = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
            for dir in &self.hide {
                let opts = c"size=4k,mode=755";
                check(libc::mount(
                    c"tmpfs".as_ptr(),
                    dir.as_ptr(),
                    c"tmpfs".as_ptr(),
                    tmpfs_flags,
                    opts.as_ptr().cast(),
                ))?;
            }
            if self.mode == Mode::UserNamespace {
                // Our own files would be writable: make every mount read-only except /tmp.
                read_only_tree()?;
            }
            let proc_flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
            check(libc::mount(
                c"proc".as_ptr(),
                c"/proc".as_ptr(),
                c"proc".as_ptr(),
                proc_flags,
                data,
            ))?;
            check(libc::chdir(c"/tmp".as_ptr()))?;
        }
        Ok(())
    }
}

/// Write `/proc/self/fd/<fd>` and a NUL into `buf`, without allocating.
fn fd_path(buf: &mut [u8; 32], fd: libc::c_int) -> *const libc::c_char {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 10];
    let (mut n, mut len) = (fd.unsigned_abs(), 0);
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        buf[PREFIX.len() + i] = digits[len - 1 - i];
    }
    buf[PREFIX.len() + len] = 0;
    buf.as_ptr().cast()
}

/// `mount_setattr(2)`: `/` read-only recursively, then `/tmp` writable again.
unsafe fn read_only_tree() -> io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    let size = std::mem::size_of::<MountAttr>();
    let ro = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let rw = MountAttr {
        attr_set: 0,
        attr_clr: MOUNT_ATTR_RDONLY,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr with valid pointers to a correctly sized struct.
    unsafe {
        let r = libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c"/".as_ptr(),
            AT_RECURSIVE,
            &ro,
            size,
        );
        check(r as libc::c_int)?;
        let r = libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c"/tmp".as_ptr(),
            0,
            &rw,
            size,
        );
        check(r as libc::c_int)?;
    }
    Ok(())
}

fn check<T: Into<i64> + Copy>(r: T) -> io::Result<T> {
    if r.into() < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

unsafe fn write_file(path: &std::ffi::CStr, data: &[u8]) -> io::Result<()> {
    // SAFETY: open/write/close on a NUL-terminated path and a live buffer.
    unsafe {
        let fd = check(libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC))?;
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        libc::close(fd);
        if n != data.len() as isize {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The intermediate process: drop every descriptor (so pipes see EOF when the program ends),
/// wait for the program, and exit with its status (`128 + signal` when it was killed).
unsafe fn wait_and_exit(pid: libc::pid_t) -> ! {
    // SAFETY: close_range/waitpid/_exit are async-signal-safe; we never return.
    unsafe {
        if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
            for fd in 0..1024 {
                libc::close(fd);
            }
        }
        let mut status = 0;
        loop {
            let r = libc::waitpid(pid, &mut status, 0);
            if r == pid {
                break;
            }
            if r < 0 && *libc::__errno_location() != libc::EINTR {
                libc::_exit(125);
            }
        }
        if libc::WIFSIGNALED(status) {
            libc::_exit(128 + libc::WTERMSIG(status));
        }
        libc::_exit(libc::WEXITSTATUS(status));
    }
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;
/// Whether this build has a seccomp filter for the target architecture.
pub(crate) const SECCOMP_SUPPORTED: bool =
    cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// Install the socket filter: every `socket(2)` whose family is not `AF_UNIX` fails with
/// `EACCES`, `io_uring_setup` fails with `ENOSYS`, and a foreign syscall ABI kills the process.
/// Requires `no_new_privs` (set just before) or `CAP_SYS_ADMIN`. Async-signal-safe.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) fn install_seccomp_in_child() -> bool {
    const fn stmt(code: u32, k: u32) -> libc::sock_filter {
        libc::sock_filter {
            code: code as u16,
            jt: 0,
            jf: 0,
            k,
        }
    }
    const fn jeq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt,
            jf,
            k,
        }
    }
    const fn jge(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16,
            jt,
            jf,
            k,
        }
    }
    const LD: u32 = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    const RET: u32 = libc::BPF_RET | libc::BPF_K;
    // Offsets in struct seccomp_data: nr 0, arch 4, args[0] 16 (low half on little endian).
    let filter = [
        stmt(LD, 4),
        jeq(AUDIT_ARCH, 1, 0),
        stmt(RET, libc::SECCOMP_RET_KILL_PROCESS),
        stmt(LD, 0),
        jge(0x4000_0000, 0, 1),
        stmt(RET, libc::SECCOMP_RET_KILL_PROCESS),
        jeq(libc::SYS_io_uring_setup as u32, 0, 1),
        stmt(RET, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        jeq(libc::SYS_socket as u32, 0, 3),
        stmt(LD, 16),
        jeq(libc::AF_UNIX as u32, 1, 0),
        stmt(RET, libc::SECCOMP_RET_ERRNO | libc::EACCES as u32),
        stmt(RET, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: prctl with a pointer to a filter that lives until the call returns (the kernel
    // copies it).
    unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
            && libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const _ as libc::c_ulong,
            ) == 0
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) fn install_seccomp_in_child() -> bool {
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn fd_path_is_formatted_without_allocation() {
        for (fd, want) in [
            (0, "/proc/self/fd/0"),
            (7, "/proc/self/fd/7"),
            (1234, "/proc/self/fd/1234"),
        ] {
            let mut buf = [0u8; 32];
            let got = super::fd_path(&mut buf, fd);
            // SAFETY: fd_path wrote a NUL-terminated string into `buf`, which outlives `got`.
            let got = unsafe { std::ffi::CStr::from_ptr(got) };
            assert_eq!(got.to_str(), Ok(want));
        }
    }
}
