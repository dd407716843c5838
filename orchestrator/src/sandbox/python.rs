//! Python programs: finding the interpreter, the runner that executes a program and reports how
//! it ended, assembling HumanEval-style problems into programs, and reading a HumanEval JSONL file.
//!
//! The runner reports on a dedicated pipe, not stdout, with a nonce that only it knows (read
//! from a pipe before the program runs), so a program that prints "passed" or exits with
//! status 0 early does not pass. It only writes from its own process: children that fall back
//! into it exit quietly. This guards against accidents, not against a program that goes
//! looking for the nonce in the interpreter's memory (it runs in the same process).

use std::path::{Path, PathBuf};

use super::SandboxError;
use super::exec::{Exit, KillReason, Launch, RawRun};
use super::{FailureKind, Limits, Outcome};

/// A Python installation: the real interpreter (a pyenv shim resolved) and its prefix.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Interpreter {
    pub executable: PathBuf,
    pub prefix: PathBuf,
}

impl Interpreter {
    /// Ask `python3` (or `program`) on the current PATH where it really lives. Done once, with
    /// the caller's environment, since shims need it and the sandbox scrubs it.
    pub fn find(program: &str) -> Result<Interpreter, SandboxError> {
        let out = std::process::Command::new(program)
            .args([
                "-I",
                "-c",
                "import os, sys; print(os.path.realpath(sys.executable)); print(sys.base_prefix)",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| SandboxError::Interpreter(format!("cannot run `{program}`: {e}")))?;
        if !out.status.success() {
            return Err(SandboxError::Interpreter(format!(
                "`{program}` exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let (Some(exe), Some(prefix)) = (lines.next(), lines.next()) else {
            return Err(SandboxError::Interpreter(format!(
                "`{program}` did not print its executable and prefix"
            )));
        };
        let interp = Interpreter {
            executable: PathBuf::from(exe),
            prefix: PathBuf::from(prefix),
        };
        interp.relative()?;
        Ok(interp)
    }

    /// The executable's path inside the prefix (`bin/python3.11`).
    pub fn relative(&self) -> Result<&Path, SandboxError> {
        self.executable.strip_prefix(&self.prefix).map_err(|_| {
            SandboxError::Interpreter(format!(
                "interpreter {} is not inside its prefix {}",
                self.executable.display(),
                self.prefix.display()
            ))
        })
    }
}

/// The runner: `runner.py RESULT_FD NONCE_FD PROGRAM` reads the nonce from its pipe (after
/// which nothing the program can read holds it), executes the program in a fresh `__main__`
/// namespace, and writes `<nonce> PASS` or `<nonce> FAIL <kind> <detail>` to the result pipe.
const RUNNER: &str = r#"import os as _os, sys as _sys, traceback as _tb

def _assay_leftover():
    if _os.getpid() != 1:
        return 0
    n = 0
    for name in _os.listdir('/proc'):
        if name.isdigit() and name != '1':
            try:
                with open('/proc/%s/stat' % name) as f:
                    state = f.read().rsplit(')', 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != 'Z':
                n += 1
    return n

def _assay_run(fd, nonce_fd, path):
    me = _os.getpid()
    nonce = _os.read(nonce_fd, 256).decode()
    _os.close(nonce_fd)
    with open(path, encoding='utf-8') as f:
        src = f.read()
    _sys.argv = [path]
    kind, detail, err = None, '', None
    try:
        exec(compile(src, 'program.py', 'exec'), {'__name__': '__main__', '__builtins__': __builtins__})
    except AssertionError as e:
        kind, detail, err = 'wrong_answer', 'AssertionError: %s' % (e,), e
    except MemoryError:
        kind, detail = 'memory', 'MemoryError'
    except SystemExit as e:
        kind, detail = 'exception', 'SystemExit(%r) before the tests finished' % (e.code,)
    except BaseException as e:
        kind, err = 'exception', e
        detail = ''.join(_tb.format_exception_only(type(e), e)).strip()
    if _os.getpid() != me:
        _os._exit(0 if kind is None else 1)
    if err is not None:
        try:
            _tb.print_exception(type(err), err, err.__traceback__)
        except BaseException:
            pass
    if kind is None:
        n = _assay_leftover()
        if n:
            kind, detail = 'killed', 'left %d process(es) running after the tests finished' % n
    try:
        _sys.stdout.flush()
        _sys.stderr.flush()
    except BaseException:
        pass
    line = nonce + (' PASS' if kind is None else ' FAIL %s %s' % (kind, ' '.join(detail.split())[:2000]))
    try:
        _os.write(fd, line.encode('utf-8', 'replace'))
    except OSError:
        pass
    _os._exit(0 if kind is None else 1)

_assay_run(int(_sys.argv[1]), int(_sys.argv[2]), _sys.argv[3])
"#;

/// The runner's source (written next to the program).
pub(crate) const RUNNER_SOURCE: &str = RUNNER;

/// Command line and environment for one Python program. `root` is the writable directory as
/// the program sees it (`/tmp` with a mount namespace), `interp_dir` the interpreter's prefix
/// and `program_dir` the directory holding `runner.py` and `program.py`, as the program sees them.
pub(crate) fn launch(
    interp: &Interpreter,
    interp_dir: &Path,
    program_dir: &Path,
    root: &Path,
    fds: [i32; 2],
) -> Result<Launch, SandboxError> {
    let exe = interp_dir.join(interp.relative()?);
    let path = format!(
        "{}:/usr/local/bin:/usr/bin:/bin",
        interp_dir.join("bin").display()
    );
    let root_s = root.display().to_string();
    let env = vec![
        ("PATH".to_string(), path),
        ("HOME".to_string(), root_s.clone()),
        ("TMPDIR".to_string(), root_s),
        ("LANG".to_string(), "C.UTF-8".to_string()),
        ("LC_ALL".to_string(), "C.UTF-8".to_string()),
        // The interpreter may look for libpython at its original, now unreachable, path.
        (
            "LD_LIBRARY_PATH".to_string(),
            interp_dir.join("lib").display().to_string(),
        ),
    ];
    let argv = vec![
        exe.into_os_string(),
        "-I".into(),
        "-B".into(),
        program_dir.join("runner.py").into_os_string(),
        fds[0].to_string().into(),
        fds[1].to_string().into(),
        program_dir.join("program.py").into_os_string(),
    ];
    Ok(Launch {
        argv,
        env,
        cwd: None,
    })
}

/// Turn what was observed into an outcome.
pub(crate) fn classify(raw: &RawRun, nonce: &str, limits: &Limits) -> Outcome {
    let result = String::from_utf8_lossy(&raw.result);
    let stderr = String::from_utf8_lossy(&raw.stderr.bytes);
    let reported = result.strip_prefix(nonce).map(str::trim);
    let (failure, detail) = match (raw.killed_for, reported) {
        _ if raw.oom_killed => (
            Some(FailureKind::Memory),
            format!(
                "a process was killed at the memory limit of {} MiB",
                limits.memory_bytes >> 20
            ),
        ),
        (Some(KillReason::WallClock), _) => (
            Some(FailureKind::Timeout),
            format!(
                "killed after the wall-clock limit of {:.1}s",
                limits.wall.as_secs_f64()
            ),
        ),
        (Some(KillReason::OutputLimit), _) => (
            Some(FailureKind::OutputLimit),
            format!(
                "killed after writing more than {} bytes to stdout or stderr",
                limits.output_bytes
            ),
        ),
        (None, Some("PASS")) => (None, String::new()),
        (None, Some(rest)) if rest.starts_with("FAIL ") => {
            let rest = &rest[5..];
            let (kind, detail) = rest.split_once(' ').unwrap_or((rest, ""));
            let kind = match kind {
                "wrong_answer" => FailureKind::WrongAnswer,
                "memory" => FailureKind::Memory,
                "killed" => FailureKind::Killed,
                _ => FailureKind::Exception,
            };
            (Some(kind), detail.to_string())
        }
        (None, _) => unreported(raw, &stderr, limits),
    };
    Outcome::new(failure, detail, raw)
}

/// The program ended without its runner reporting: find out from the exit and stderr.
fn unreported(raw: &RawRun, stderr: &str, limits: &Limits) -> (Option<FailureKind>, String) {
    // Usage accounting lags the limit's own (finer) clock a little.
    let cpu_limit = std::time::Duration::from_secs(limits.cpu_seconds).mul_f64(0.9);
    match raw.exit {
        Exit::Signal(sig)
            if sig == libc::SIGXCPU || (sig == libc::SIGKILL && raw.cpu >= cpu_limit) =>
        {
            (
                Some(FailureKind::Timeout),
                format!("killed after the CPU limit of {}s", limits.cpu_seconds),
            )
        }
        _ if stderr.contains("MemoryError") || stderr.contains("Cannot allocate memory") => (
            Some(FailureKind::Memory),
            format!(
                "ran out of memory (address-space limit {} MiB)",
                limits.address_space_bytes >> 20
            ),
        ),
        Exit::Signal(sig) => (
            Some(FailureKind::Killed),
            format!("killed by signal {sig} ({})", signal_name(sig)),
        ),
        Exit::Code(code) => {
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            let detail = if last.is_empty() {
                format!("exited with status {code} before the tests finished")
            } else {
                format!("exited with status {code} before the tests finished: {last}")
            };
            (Some(FailureKind::Exception), detail)
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS: blocked system call",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

/// One HumanEval-format problem (also the shape of `datasets/code_generation`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HumanEvalProblem {
    pub task_id: String,
    pub prompt: String,
    pub entry_point: String,
    pub test: String,
    #[serde(default)]
    pub canonical_solution: Option<String>,
}

impl HumanEvalProblem {
    /// The program that scores `completion`, exactly as HumanEval builds it:
    /// `prompt + completion + "\n" + test + "\n" + f"check({entry_point})"`.
    pub fn program(&self, completion: &str) -> String {
        format!(
            "{}{}\n{}\ncheck({})\n",
            self.prompt, completion, self.test, self.entry_point
        )
    }

    /// Read a problem from a JSON row, naming the missing or mistyped field.
    pub fn from_row(row: &serde_json::Value) -> Result<HumanEvalProblem, String> {
        let field = |name: &str| -> Result<String, String> {
            match row.get(name) {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(format!("field `{name}` must be a string, found {other}")),
                None => Err(format!("missing field `{name}`")),
            }
        };
        let task_id = match row.get("task_id") {
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => field("task_id")?,
        };
        Ok(HumanEvalProblem {
            task_id,
            prompt: field("prompt")?,
            entry_point: field("entry_point")?,
            test: field("test")?,
            canonical_solution: row
                .get("canonical_solution")
                .and_then(|v| v.as_str())
                .map(str::to_string),
        })
    }
}

/// Read a HumanEval JSONL file (one problem per line; blank lines skipped). Errors name the
/// file, the line and the field.
pub fn load_humaneval_jsonl(path: &Path) -> Result<Vec<HumanEvalProblem>, SandboxError> {
    let text = std::fs::read_to_string(path).map_err(|e| SandboxError::io("read", path, e))?;
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |msg: String| SandboxError::Problem {
            file: path.to_path_buf(),
            line: i + 1,
            message: msg,
        };
        let row: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("invalid JSON: {e}")))?;
        problems.push(HumanEvalProblem::from_row(&row).map_err(bad)?);
    }
    Ok(problems)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn program_is_assembled_like_humaneval() {
        let p = HumanEvalProblem {
            task_id: "t/0".into(),
            prompt: "def f(x):\n".into(),
            entry_point: "f".into(),
            test: "def check(candidate):\n    assert candidate(1) == 2\n".into(),
            canonical_solution: None,
        };
        let src = p.program("    return x + 1\n");
        assert_eq!(
            src,
            "def f(x):\n    return x + 1\n\ndef check(candidate):\n    assert candidate(1) == 2\n\ncheck(f)\n"
        );
    }

    #[test]
    fn bad_rows_name_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("he.jsonl");
        std::fs::write(&path, "{\"task_id\": \"a\", \"prompt\": \"p\", \"entry_point\": \"f\", \"test\": \"t\"}\n\n{\"task_id\": \"b\", \"prompt\": 3}\n").unwrap();
        let err = load_humaneval_jsonl(&path).unwrap_err().to_string();
        assert!(
            err.contains("he.jsonl") && err.contains("line 3") && err.contains("`prompt`"),
            "{err}"
        );
    }
}
