//! The parent's handle on one worker process: spawn `assay worker`, send messages, read
//! replies, and turn an early exit (a signal, an abort) into an error that says what happened.

use super::protocol::{FromWorker, ToWorker};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Lines of the worker's stderr kept for error messages.
const STDERR_TAIL: usize = 12;

/// A running worker.
#[derive(Debug)]
pub struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    pub pid: u32,
}

/// Why talking to a worker failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot start the worker process {exe}: {source}")]
    Spawn {
        exe: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the worker process {0}")]
    Died(String),
    #[error("worker protocol: {0}")]
    Protocol(String),
}

impl Worker {
    /// Start `exe worker` (the same binary), in its own process group so a terminal Ctrl-C
    /// reaches only the parent, which then lets the batch in flight finish.
    pub fn spawn(exe: &PathBuf, env: &[(String, String)]) -> Result<Worker, WorkerError> {
        let mut cmd = Command::new(exe);
        cmd.arg("worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|source| WorkerError::Spawn {
            exe: exe.display().to_string(),
            source,
        })?;
        let pid = child.id().unwrap_or(0);
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(WorkerError::Protocol("worker pipes missing".into()));
        };
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let keep = tail.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(target: "assay::worker", "{line}");
                if let Ok(mut t) = keep.lock() {
                    if t.len() == STDERR_TAIL {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            }
        });
        Ok(Worker {
            child,
            stdin,
            stdout: BufReader::new(stdout).lines(),
            stderr: tail,
            pid,
        })
    }

    pub async fn send(&mut self, msg: &ToWorker) -> Result<(), WorkerError> {
        let mut line =
            serde_json::to_string(msg).map_err(|e| WorkerError::Protocol(e.to_string()))?;
        line.push('\n');
        if self.stdin.write_all(line.as_bytes()).await.is_err() || self.stdin.flush().await.is_err()
        {
            return Err(self.died().await);
        }
        Ok(())
    }

    pub async fn recv(&mut self) -> Result<FromWorker, WorkerError> {
        match self.stdout.next_line().await {
            Ok(Some(line)) => serde_json::from_str(&line)
                .map_err(|e| WorkerError::Protocol(format!("{e}: {}", truncate(&line, 200)))),
            _ => Err(self.died().await),
        }
    }

    /// Ask the worker to exit and wait for it.
    pub async fn shutdown(mut self) {
        let _ = self.send(&ToWorker::Shutdown).await;
        let wait =
            tokio::time::timeout(std::time::Duration::from_secs(10), self.child.wait()).await;
        if wait.is_err() {
            let _ = self.child.kill().await;
        }
    }

    /// The worker is gone: how it ended, with the end of its stderr.
    async fn died(&mut self) -> WorkerError {
        let status =
            tokio::time::timeout(std::time::Duration::from_secs(5), self.child.wait()).await;
        // Give the stderr reader a moment to collect the last lines.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let tail: Vec<String> = self
            .stderr
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default();
        let how = match status {
            Ok(Ok(s)) => describe_exit(s),
            _ => "stopped answering".to_string(),
        };
        let tail = if tail.is_empty() {
            String::new()
        } else {
            format!("; its last output:\n  {}", tail.join("\n  "))
        };
        WorkerError::Died(format!("{how}{tail}"))
    }
}

fn describe_exit(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (_, Some(9)) => "was killed (SIGKILL: out of memory?)".into(),
        (_, Some(6)) => "aborted (SIGABRT)".into(),
        (_, Some(11)) => "crashed (SIGSEGV)".into(),
        (_, Some(sig)) => format!("was killed by signal {sig}"),
        (Some(code), None) => format!("exited with status {code}"),
        (None, None) => "ended".into(),
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
