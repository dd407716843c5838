//! Supervising one sandboxed process: spawn it with its isolation, capture stdout/stderr up to
//! a cap (an output flood is cut off, never buffered), read its result pipe, kill the whole group
//! on the wall-clock limit or an output flood, reap it with its CPU time, and sweep the slot.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::isolate::{ChildSetup, Slot};
use super::{Limits, SandboxError};

/// Most bytes read from the result pipe.
const RESULT_CAP: usize = 64 * 1024;

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    Code(i32),
    Signal(i32),
}

/// Why the supervisor killed the process, if it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KillReason {
    WallClock,
    OutputLimit,
}

/// A captured stream: at most the cap, and whether more was written.
#[derive(Debug, Default)]
pub(crate) struct Captured {
    pub bytes: Vec<u8>,
    pub truncated: bool,
}

/// Everything observed about one run, before it is classified.
#[derive(Debug)]
pub(crate) struct RawRun {
    pub exit: Exit,
    pub killed_for: Option<KillReason>,
    pub stdout: Captured,
    pub stderr: Captured,
    pub result: Vec<u8>,
    pub cpu: Duration,
    pub wall: Duration,
    /// The kernel's OOM killer killed a process of the program (memory cgroup limit).
    pub oom_killed: bool,
}

/// What to start: the command line, environment and (without a mount namespace) directory.
pub(crate) struct Launch {
    pub argv: Vec<OsString>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
}

enum Event {
    Exited,
    Overflow,
}

/// Run `launch` isolated by `setup` in `slot`, under `limits`.
pub(crate) fn supervise(
    launch: Launch,
    setup: ChildSetup,
    result_read: OwnedFd,
    limits: &Limits,
    slot: &Slot,
    namespaced: bool,
) -> Result<RawRun, SandboxError> {
    let start = Instant::now();
    let oom_before = slot.oom_kills();
    let (program, args) = launch
        .argv
        .split_first()
        .ok_or_else(|| SandboxError::Setup("empty command line".into()))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(cwd) = &launch.cwd {
        cmd.current_dir(cwd);
    }
    // SAFETY: `in_child` makes only async-signal-safe calls on data prepared before the fork
    // (see isolate.rs); it is the only code that runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || setup.in_child());
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| SandboxError::Spawn(e.to_string()))?;
    // Closes our copies of the pipe ends the program holds (they live in `setup`).
    drop(cmd);
    let pid = child.id() as libc::pid_t;

    let (tx, rx) = mpsc::channel();
    let (stdout_tx, stdout_rx) = mpsc::channel();
    let (stderr_tx, stderr_rx) = mpsc::channel();
    let (result_tx, result_rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        spawn_reader(out, limits.output_bytes, Some(tx.clone()), stdout_tx);
    }
    if let Some(err) = child.stderr.take() {
        spawn_reader(err, limits.output_bytes, Some(tx.clone()), stderr_tx);
    }
    spawn_reader(
        std::fs::File::from(result_read),
        RESULT_CAP,
        None,
        result_tx,
    );
    let waiter_tx = tx.clone();
    std::thread::spawn(move || {
        wait_no_reap(pid);
        let _ = waiter_tx.send(Event::Exited);
    });
    drop(tx);

    let deadline = start + limits.wall;
    let mut killed_for = None;
    loop {
        let timeout = deadline.saturating_duration_since(Instant::now());
        let event = if killed_for.is_some() {
            rx.recv().map_err(|_| ())
        } else {
            rx.recv_timeout(timeout).map_err(|_| ())
        };
        match event {
            Ok(Event::Exited) => break,
            Ok(Event::Overflow) => {
                if killed_for.is_none() {
                    killed_for = Some(KillReason::OutputLimit);
                    kill_program(pid, namespaced);
                }
            }
            Err(()) => {
                if killed_for.is_none() {
                    killed_for = Some(KillReason::WallClock);
                    kill_program(pid, namespaced);
                } else {
                    // The waiter thread is gone without an event: nothing more will come.
                    break;
                }
            }
        }
    }
    let wall = start.elapsed();
    // The group leader is a zombie until reaped, so its group id cannot have been reused.
    kill_group(pid);
    let (exit, cpu) = reap(pid)?;
    drop(child);
    let leftover = slot.sweep(Duration::from_secs(5));
    if !leftover.is_empty() {
        return Err(SandboxError::Leftover {
            uid: slot.uid,
            pids: leftover,
        });
    }
    let grace = Duration::from_secs(2);
    let stdout = stdout_rx.recv_timeout(grace).unwrap_or_default();
    let stderr = stderr_rx.recv_timeout(grace).unwrap_or_default();
    let result = result_rx.recv_timeout(grace).unwrap_or_default().bytes;
    let oom_killed = slot.oom_kills() > oom_before;
    Ok(RawRun {
        oom_killed,
        exit,
        killed_for,
        stdout,
        stderr,
        result,
        cpu,
        wall,
    })
}

/// Read `r` to its end, keeping at most `cap` bytes; past the cap, report an overflow and stop
/// reading (the writer then gets EPIPE and is killed by the supervisor).
fn spawn_reader<R: Read + Send + 'static>(
    mut r: R,
    cap: usize,
    overflow: Option<mpsc::Sender<Event>>,
    done: mpsc::Sender<Captured>,
) {
    std::thread::spawn(move || {
        let mut captured = Captured::default();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let room = cap.saturating_sub(captured.bytes.len());
                    captured.bytes.extend_from_slice(&buf[..n.min(room)]);
                    if n > room {
                        captured.truncated = true;
                        if let Some(tx) = &overflow {
                            let _ = tx.send(Event::Overflow);
                        }
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let _ = done.send(captured);
    });
}

/// Block until `pid` has exited, without reaping it.
fn wait_no_reap(pid: libc::pid_t) {
    loop {
        // SAFETY: waitid with WNOWAIT on our own child and a zeroed siginfo to fill.
        let r = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

/// Reap `pid` and return how it ended and the CPU time it (and its waited-for children) used.
fn reap(pid: libc::pid_t) -> Result<(Exit, Duration), SandboxError> {
    let mut status = 0;
    // SAFETY: wait4 on our own child with valid out-pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: as above.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(SandboxError::Spawn(format!(
                "waiting for the program: {err}"
            )));
        }
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    let cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
    let exit = if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        // The intermediate process reports a killed program as 128 + signal.
        match libc::WEXITSTATUS(status) {
            code @ 129..=192 => Exit::Signal(code - 128),
            code => Exit::Code(code),
        }
    };
    Ok((exit, cpu))
}

/// Kill the program. With namespaces, `pid` is the waiting intermediate process: kill its child
/// (the namespace's init, which takes every other process of the namespace with it) and let the
/// intermediate reap it, so no zombie is left to the host's init. Otherwise, or when the child is
/// not listed, kill the whole process group.
fn kill_program(pid: libc::pid_t, namespaced: bool) {
    if namespaced {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        let mut killed = false;
        for child in children
            .split_whitespace()
            .filter_map(|c| c.parse::<libc::pid_t>().ok())
        {
            // SAFETY: kill(2) on the child of our own unreaped child, which cannot have been
            // reaped (and its pid reused) before its parent, our child, reaps it.
            killed |= unsafe { libc::kill(child, libc::SIGKILL) } == 0;
        }
        if killed {
            return;
        }
    }
    kill_group(pid);
}

fn kill_group(pgid: libc::pid_t) {
    // SAFETY: killpg on the group our own unreaped child leads.
    unsafe { libc::killpg(pgid, libc::SIGKILL) };
}

/// A close-on-exec pipe: (read end, write end).
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors that we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(SandboxError::Spawn(format!(
            "pipe: {}",
            std::io::Error::last_os_error()
        )));
    }
    for fd in &mut fds {
        // Keep clear of 0-2, which the child's stdio replaces (possible when our own are closed).
        if *fd < 3 {
            // SAFETY: duplicating a descriptor we own, then closing the original.
            unsafe {
                let high = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3);
                if high >= 0 {
                    libc::close(*fd);
                    *fd = high;
                }
            }
        }
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
