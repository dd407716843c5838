//! Running untrusted, model-written code to score it, and saying exactly what protects the host.
//!
//! Each program runs in a fresh work directory as its own process group, under rlimits (CPU
//! seconds, address space, processes, file size, open files) and a wall-clock limit that kills
//! the whole group, with a scrubbed environment and stdin closed. Where the host allows it (see
//! [`Protections::probe`]) it also gets private network, mount, pid, ipc and uts namespaces, an
//! unprivileged uid of its own (one per parallel slot, so process limits bind), `pids` and
//! `memory` cgroups, and a seccomp filter that refuses network sockets. Without network
//! isolation the sandbox refuses to start unless the policy accepts that risk explicitly.
//!
//! What holds with full isolation (root with namespaces and cgroups, as on CI; each point has a
//! test in `tests.rs` that runs a hostile program):
//! - No network: the network namespace has only a down loopback, and seccomp refuses every
//!   socket family but `AF_UNIX` (and io_uring), so even a connection to the host's own
//!   127.0.0.1 fails.
//! - Files: the program runs as a uid that owns nothing on the host, with no groups or
//!   capabilities and `no_new_privs`. Its only writable place is `/tmp`, a private tmpfs of
//!   `disk_bytes` (also its working directory and `HOME`); the host's `/tmp`, home directories,
//!   `/run`, `/var/tmp`, `/dev/shm`, `/mnt`, `/media`, `/srv` are hidden behind empty read-only
//!   mounts; `/proc` shows only its own processes. Elsewhere the host filesystem stays
//!   readable where world-readable (system libraries, `/etc`).
//! - Processes: `pids.max` (and `RLIMIT_NPROC` on the slot's own uid) bound the count; the pid
//!   namespace means that everything the program starts dies with it, even processes that
//!   left its group or session; a program that leaves processes running fails as `killed`.
//! - Time and memory: CPU seconds per process (`RLIMIT_CPU`), a wall clock for the whole run,
//!   address space per process (`RLIMIT_AS`) and memory of all processes together (memory
//!   cgroup); file size (`RLIMIT_FSIZE`), open files, and stdout/stderr capped at
//!   `output_bytes` (a flood is killed, never buffered).
//!
//! What does not hold: the program shares the host kernel (a kernel exploit escapes any of
//! this); it can read world-readable host files outside the hidden directories; CPU time is
//! limited per process, so `max_processes` busy processes use that many times `cpu_seconds`
//! until the wall clock ends them. Without root the program keeps its user's uid inside a user
//! namespace (every mount read-only but `/tmp`), and `RLIMIT_NPROC` counts all of that user's
//! processes; without namespaces only rlimits, the process group and seccomp remain, and
//! [`Protections::describe`] says so at start-up. Landlock is not used.
//!
//! Typical use (the run executor owns the flag and the printing):
//! ```no_run
//! use assay::sandbox::{ExecutionPolicy, HumanEvalProblem, Limits, ProblemResult, Sandbox};
//! # fn main() -> Result<(), assay::sandbox::SandboxError> {
//! let policy = ExecutionPolicy { allow_code_execution: true, allow_network_access: false };
//! let sandbox = Sandbox::new(Limits::default(), policy)?; // refuses without network isolation
//! for line in sandbox.notice() {
//!     println!("{line}"); // interpreter, limits, and each protection on or OFF
//! }
//! # let problem: HumanEvalProblem = unimplemented!();
//! # let completions: Vec<String> = Vec::new();
//! let programs: Vec<_> = completions
//!     .iter()
//!     .map(|c| assay::sandbox::Program::python(problem.program(c)))
//!     .collect();
//! let outcomes: Result<Vec<_>, _> = sandbox.run_many(&programs, 2).into_iter().collect();
//! let result = ProblemResult::new(&problem.task_id, &outcomes?, &[1, 10]);
//! # Ok(())
//! # }
//! ```
//!
//! - `probe.rs`: which protections this host provides.
//! - `isolate.rs`: slots (uid, cgroup) and the fork/exec-time isolation.
//! - `exec.rs`: supervising one process (capture caps, timeouts, reaping).
//! - `python.rs`: the Python runner, HumanEval program assembly and JSONL reading.
//! - `passk.rs`: the unbiased pass@k estimator and the per-problem result.

mod exec;
mod isolate;
mod passk;
mod probe;
mod python;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub use passk::{ProblemResult, SampleResult, pass_at_k};
pub use probe::Protections;
pub use python::{HumanEvalProblem, Interpreter, load_humaneval_jsonl};

use isolate::{ChildSetup, Mode, Slot};

/// The flag that turns code execution on.
pub const ALLOW_CODE_EXECUTION_FLAG: &str = "--allow-code-execution";
/// The flag that accepts running code on a host that cannot cut it off from the network.
pub const ALLOW_NETWORK_FLAG: &str = "--allow-code-execution-with-network-access";

/// Resource limits for one program.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Limits {
    pub cpu_seconds: u64,
    /// Wall-clock limit; the whole process group (and pid namespace) is killed after it.
    pub wall: Duration,
    pub address_space_bytes: u64,
    /// Processes and threads the program may have at once (`pids.max`, `RLIMIT_NPROC`).
    pub max_processes: u64,
    /// Memory of all the program's processes together (memory cgroup, where available).
    pub memory_bytes: u64,
    /// Size of the program's private `/tmp` (a tmpfs, with a mount namespace).
    pub disk_bytes: u64,
    pub file_size_bytes: u64,
    pub open_files: u64,
    /// Bytes kept of stdout and of stderr; writing more kills the program.
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            cpu_seconds: 10,
            wall: Duration::from_secs(15),
            address_space_bytes: 1 << 30,
            max_processes: 32,
            memory_bytes: 1 << 30,
            disk_bytes: 64 << 20,
            file_size_bytes: 16 << 20,
            open_files: 64,
            output_bytes: 1 << 20,
        }
    }
}

impl Limits {
    /// Reject limits no program could run under, naming the field, the bound and the value.
    pub fn check(&self) -> Result<(), SandboxError> {
        let at_least = |name: &str, value: u64, min: u64| {
            if value < min {
                Err(SandboxError::Limit(format!(
                    "`{name}` must be >= {min}. Given: {value}"
                )))
            } else {
                Ok(())
            }
        };
        at_least("cpu_seconds", self.cpu_seconds, 1)?;
        at_least("wall_ms", self.wall.as_millis() as u64, 100)?;
        at_least("address_space_bytes", self.address_space_bytes, 64 << 20)?;
        at_least("memory_bytes", self.memory_bytes, 32 << 20)?;
        at_least("max_processes", self.max_processes, 1)?;
        at_least("disk_bytes", self.disk_bytes, 1 << 20)?;
        at_least("file_size_bytes", self.file_size_bytes, 4096)?;
        at_least("open_files", self.open_files, 16)?;
        at_least("output_bytes", self.output_bytes as u64, 1024)
    }
}

/// What the user allowed. Built from the command-line flags by the run executor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExecutionPolicy {
    /// `--allow-code-execution`.
    pub allow_code_execution: bool,
    /// `--allow-code-execution-with-network-access`: run even where the network cannot be cut off.
    pub allow_network_access: bool,
}

impl ExecutionPolicy {
    /// Whether code may run at all on a host with these protections: code execution must be
    /// on, and without network isolation the user must have accepted network access by name.
    pub fn admit(&self, protections: &Protections) -> Result<(), SandboxError> {
        if !self.allow_code_execution {
            return Err(SandboxError::NotAllowed);
        }
        if !protections.network_isolated() && !self.allow_network_access {
            return Err(SandboxError::NoNetworkIsolation);
        }
        Ok(())
    }

    /// Why a dataset that needs code execution is skipped under this policy (None: it runs).
    pub fn skip_reason(&self, dataset: &str) -> Option<String> {
        (!self.allow_code_execution).then(|| {
            format!(
                "skipping dataset `{dataset}`: it is scored by running model-written code, and code \
                 execution is off; pass {ALLOW_CODE_EXECUTION_FLAG} to run that code in the sandbox"
            )
        })
    }
}

/// Whether a dataset is scored by executing code (its metrics include `pass_at_k`).
pub fn needs_code_execution(dataset: &crate::catalog::types::Dataset) -> bool {
    dataset
        .metrics
        .iter()
        .any(|m| matches!(m.metric.as_str(), "pass_at_k" | "pass@k" | "code_eval"))
}

/// How a failed sample failed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The tests ran and an assertion failed.
    WrongAnswer,
    /// The program raised (or exited) before the tests finished.
    Exception,
    /// CPU or wall-clock limit.
    Timeout,
    /// Address-space limit (MemoryError).
    Memory,
    /// More output than the cap.
    OutputLimit,
    /// Killed by a signal, or left processes running after it finished.
    Killed,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::WrongAnswer => "wrong_answer",
            FailureKind::Exception => "exception",
            FailureKind::Timeout => "timeout",
            FailureKind::Memory => "memory",
            FailureKind::OutputLimit => "output_limit",
            FailureKind::Killed => "killed",
        }
    }
}

/// Most bytes of stdout/stderr kept in an outcome (the capture itself keeps up to the limit).
const EXCERPT: usize = 2048;

/// How one program ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    pub passed: bool,
    pub failure: Option<FailureKind>,
    /// One line: the exception, the limit hit, the signal.
    pub detail: String,
    /// The start of stdout and the end of stderr (a traceback ends there).
    pub stdout: String,
    pub stderr: String,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub cpu_ms: u64,
    pub wall_ms: u64,
}

impl Outcome {
    fn new(failure: Option<FailureKind>, detail: String, raw: &exec::RawRun) -> Outcome {
        let head = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(EXCERPT)]).into_owned();
        let tail =
            |b: &[u8]| String::from_utf8_lossy(&b[b.len().saturating_sub(EXCERPT)..]).into_owned();
        let (exit_code, signal) = match raw.exit {
            exec::Exit::Code(c) => (Some(c), None),
            exec::Exit::Signal(s) => (None, Some(s)),
        };
        Outcome {
            passed: failure.is_none(),
            failure,
            detail,
            stdout: head(&raw.stdout.bytes),
            stderr: tail(&raw.stderr.bytes),
            exit_code,
            signal,
            cpu_ms: raw.cpu.as_millis() as u64,
            wall_ms: raw.wall.as_millis() as u64,
        }
    }
}

/// The language a program is written in (Python is the language of the shipped datasets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Python,
}

/// A complete program to run: it passes when it finishes without an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub language: Language,
    pub source: String,
}

impl Program {
    pub fn python(source: impl Into<String>) -> Program {
        Program {
            language: Language::Python,
            source: source.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "code execution is off: pass {ALLOW_CODE_EXECUTION_FLAG} to run model-written code in the sandbox"
    )]
    NotAllowed,
    #[error(
        "this host cannot cut sandboxed code off from the network (no network namespace, no seccomp); \
         refusing to run model-written code. Pass {ALLOW_NETWORK_FLAG} to run it anyway, accepting that it can reach the network"
    )]
    NoNetworkIsolation,
    #[error("sandbox limits: {0}")]
    Limit(String),
    #[error("python interpreter: {0}")]
    Interpreter(String),
    #[error("{file}, line {line}: {message}")]
    Problem {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no free sandbox uid in {first}..{} (all locked by running sandboxes)", first + count)]
    NoFreeSlot { first: u32, count: u32 },
    #[error("sandbox setup: {0}")]
    Setup(String),
    #[error("starting the sandboxed program failed: {0}")]
    Spawn(String),
    #[error("processes {pids:?} of sandbox uid {uid} survived the kill; the slot is not reused")]
    Leftover { uid: u32, pids: Vec<i32> },
}

impl SandboxError {
    fn io(action: &'static str, path: &Path, source: std::io::Error) -> SandboxError {
        SandboxError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A configured sandbox: limits, the probed protections, the interpreter, and a pool of slots.
#[derive(Debug)]
pub struct Sandbox {
    limits: Limits,
    protections: Protections,
    mode: Mode,
    python: Interpreter,
    slots: Mutex<Vec<Slot>>,
}

static PROBED: OnceLock<Protections> = OnceLock::new();
static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Sandbox {
    /// The protections this host provides (probed once per process).
    pub fn probe() -> Protections {
        PROBED.get_or_init(Protections::probe).clone()
    }

    /// A sandbox with `python3` from the current PATH.
    pub fn new(limits: Limits, policy: ExecutionPolicy) -> Result<Sandbox, SandboxError> {
        Sandbox::with_interpreter(limits, policy, Interpreter::find("python3")?)
    }

    pub fn with_interpreter(
        limits: Limits,
        policy: ExecutionPolicy,
        python: Interpreter,
    ) -> Result<Sandbox, SandboxError> {
        limits.check()?;
        let protections = Sandbox::probe();
        policy.admit(&protections)?;
        let mode = Mode::choose(&protections);
        if mode == Mode::Bare && protections.root && !reachable_by_others(&python.executable) {
            return Err(SandboxError::Interpreter(format!(
                "{} is not reachable by an unprivileged user (a directory on its path is private), \
                 and without a mount namespace it cannot be mounted elsewhere; use a Python \
                 installed outside a private home directory",
                python.executable.display()
            )));
        }
        Ok(Sandbox {
            limits,
            protections,
            mode,
            python,
            slots: Mutex::new(Vec::new()),
        })
    }

    pub fn protections(&self) -> &Protections {
        &self.protections
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// What to tell the user at start-up: the interpreter, the limits, then one line per
    /// protection saying whether it is active on this host.
    pub fn notice(&self) -> Vec<String> {
        let l = &self.limits;
        let mut lines = vec![format!(
            "sandbox: {} under limits of {}s CPU, {:.0}s wall clock, {} MiB address space per process, \
             {} MiB in all, {} processes, {} MiB files, {} open files, {} KiB of output",
            self.python.executable.display(),
            l.cpu_seconds,
            l.wall.as_secs_f64(),
            l.address_space_bytes >> 20,
            l.memory_bytes >> 20,
            l.max_processes,
            l.file_size_bytes >> 20,
            l.open_files,
            l.output_bytes >> 10,
        )];
        lines.extend(self.protections.describe());
        lines
    }

    /// The uids of the slots this sandbox holds now (idle ones), for diagnostics.
    pub fn slot_uids(&self) -> Vec<u32> {
        self.slots
            .lock()
            .map(|s| s.iter().map(|slot| slot.uid).collect())
            .unwrap_or_default()
    }

    /// Run one program. `Err` means the sandbox itself failed (not the program): such a run
    /// must not be recorded as a failed sample.
    pub fn run(&self, program: &Program) -> Result<Outcome, SandboxError> {
        let slot = self.take_slot()?;
        let result = self.run_in(&slot, program);
        // A slot whose processes survived is dropped, never reused.
        if !matches!(result, Err(SandboxError::Leftover { .. }))
            && let Ok(mut slots) = self.slots.lock()
        {
            slots.push(slot);
        }
        result
    }

    /// Run programs on up to `parallelism` workers; outcomes come back in input order.
    pub fn run_many(
        &self,
        programs: &[Program],
        parallelism: usize,
    ) -> Vec<Result<Outcome, SandboxError>> {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<Mutex<Option<Result<Outcome, SandboxError>>>> =
            programs.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|s| {
            for _ in 0..parallelism.clamp(1, programs.len().max(1)) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(program) = programs.get(i) else {
                            break;
                        };
                        let outcome = self.run(program);
                        if let Ok(mut slot) = results[i].lock() {
                            *slot = Some(outcome);
                        }
                    }
                });
            }
        });
        results
            .into_iter()
            .map(|m| {
                m.into_inner()
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| Err(SandboxError::Setup("a worker thread panicked".into())))
            })
            .collect()
    }

    /// Score one completion of a HumanEval-format problem.
    pub fn score_humaneval(
        &self,
        problem: &HumanEvalProblem,
        completion: &str,
    ) -> Result<Outcome, SandboxError> {
        self.run(&Program::python(problem.program(completion)))
    }

    fn take_slot(&self) -> Result<Slot, SandboxError> {
        let pooled = self.slots.lock().ok().and_then(|mut s| s.pop());
        match pooled {
            Some(slot) => Ok(slot),
            None => Slot::acquire(&self.protections, &self.limits),
        }
    }

    fn run_in(&self, slot: &Slot, program: &Program) -> Result<Outcome, SandboxError> {
        let Language::Python = program.language;
        let workdir = WorkDir::create(slot.uid, self.mode)?;
        let nonce = format!(
            "{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        let (result_read, result_write) = exec::pipe()?;
        let (nonce_read, nonce_write) = exec::pipe()?;
        // The nonce waits in the pipe's buffer; the runner reads it before the program starts.
        std::fs::File::from(nonce_write)
            .write_all(nonce.as_bytes())
            .map_err(|e| SandboxError::Spawn(format!("writing the nonce: {e}")))?;
        let fds = [result_write.as_raw_fd(), nonce_read.as_raw_fd()];
        let namespaced = self.mode != Mode::Bare;
        let (root, interp_dir, program_dir) = if namespaced {
            let dir = |c: &std::ffi::CStr| PathBuf::from(c.to_string_lossy().into_owned());
            (
                PathBuf::from("/tmp"),
                dir(isolate::INTERPRETER_DIR),
                dir(isolate::PROGRAM_DIR),
            )
        } else {
            (
                workdir.path.clone(),
                self.python.prefix.clone(),
                workdir.path.clone(),
            )
        };
        let mut launch = python::launch(&self.python, &interp_dir, &program_dir, &root, fds)?;
        workdir.write("program.py", &program.source)?;
        workdir.write("runner.py", python::RUNNER_SOURCE)?;
        let setup = ChildSetup::new(
            self.mode,
            slot,
            &workdir.path,
            &self.python.prefix,
            [result_write, nonce_read],
            &self.limits,
            self.protections.seccomp,
        )?;
        launch.cwd = (!namespaced).then(|| workdir.path.clone());
        let raw = exec::supervise(launch, setup, result_read, &self.limits, slot, namespaced)?;
        Ok(python::classify(&raw, &nonce, &self.limits))
    }
}

/// Whether every directory on the way to `path` is searchable, and `path` executable, by others.
fn reachable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.ancestors()
        .all(|p| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

/// A fresh host directory holding the runner and the program, removed on drop (owned by the
/// slot's uid and used in place only without a mount namespace).
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn create(uid: u32, mode: Mode) -> Result<WorkDir, SandboxError> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let n = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "assay-run-{}-{n}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        let path = std::env::temp_dir().join(name);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| SandboxError::io("create", &path, e))?;
        let dir = WorkDir { path };
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        match mode {
            // Bound read-only into the namespace, where the slot's uid must read it.
            Mode::Privileged => {
                std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| SandboxError::io("chmod", &dir.path, e))?
            }
            // Used in place: the program's own directory.
            Mode::Bare if root => std::os::unix::fs::chown(&dir.path, Some(uid), Some(uid))
                .map_err(|e| SandboxError::io("chown", &dir.path, e))?,
            Mode::Bare | Mode::UserNamespace => {}
        }
        Ok(dir)
    }

    fn write(&self, name: &str, text: &str) -> Result<(), SandboxError> {
        let path = self.path.join(name);
        std::fs::write(&path, text).map_err(|e| SandboxError::io("write", &path, e))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
