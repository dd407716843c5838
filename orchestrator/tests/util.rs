//! Helpers for the command-line tests: run the built `assay` binary in a controlled environment
//! (no built-in catalog, an empty Hugging Face cache) and make scratch catalogs.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The test catalog shipped with the tests.
pub fn good_catalog() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/good")
}

/// A scratch directory holding a copy of the good catalog under `catalog/` and an empty
/// Hugging Face cache under `hf/`.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::tempdir().expect("temp dir");
        copy_tree(&good_catalog(), &dir.path().join("catalog"));
        std::fs::create_dir_all(dir.path().join("hf")).expect("hf cache dir");
        Scratch { dir }
    }

    pub fn catalog(&self) -> PathBuf {
        self.dir.path().join("catalog")
    }

    pub fn hf_cache(&self) -> PathBuf {
        self.dir.path().join("hf")
    }

    /// Write `text` to `rel` inside the scratch catalog.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.catalog().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// Replace `from` with `to` in the file `rel` of the scratch catalog (which must change).
    pub fn edit(&self, rel: &str, from: &str, to: &str) -> PathBuf {
        let path = self.catalog().join(rel);
        let text = std::fs::read_to_string(&path).expect("read file");
        let edited = text.replacen(from, to, 1);
        assert_ne!(text, edited, "`{from}` not found in {rel}");
        std::fs::write(&path, edited).expect("write file");
        path
    }

    /// Run `assay` with `--catalog` pointing at the scratch catalog.
    pub fn assay(&self, args: &[&str]) -> Output {
        let mut all = vec![
            "--catalog".to_string(),
            self.catalog().display().to_string(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        run(
            &all,
            &[("HF_HUB_CACHE", self.hf_cache().display().to_string())],
        )
    }

    /// Output with the scratch catalog's path replaced by `<catalog>`.
    pub fn redact(&self, text: &str) -> String {
        text.replace(&self.catalog().display().to_string(), "<catalog>")
    }
}

/// Run the binary with `args` and extra environment; the built-in catalog is left out unless
/// the environment sets `ASSAY_NO_BUILTIN_CATALOG` to `0`.
pub fn run(args: &[String], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_assay"));
    cmd.args(args)
        .env_remove("ASSAY_CATALOG")
        .env_remove("HF_HOME")
        .env("ASSAY_NO_BUILTIN_CATALOG", "1")
        .env("HF_HUB_CACHE", "/nonexistent-hf-cache");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run assay");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy file");
        }
    }
}

/// A micro checkpoint of the engine tests.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../engines/tests/fixtures/{name}"))
}

/// A running `assay serve` on a loopback port, killed on drop.
pub struct Served {
    child: std::process::Child,
    /// `host:port`.
    pub addr: String,
}

impl Served {
    /// Serves `model` (a checkpoint directory) with extra `assay serve` flags.
    pub fn start(model: &Path, extra: &[&str]) -> Served {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(env!("CARGO_BIN_EXE_assay"))
            .arg("serve")
            .arg(model)
            .args(["--port", "0", "--quiet"])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start assay serve");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("read");
        let url = line
            .split_whitespace()
            .last()
            .unwrap_or_else(|| panic!("no address printed: {line:?}"))
            .to_string();
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches("/v1")
            .to_string();
        Served { child, addr }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A catalog entry (under `models:`) for a llama-micro checkpoint at `dir`.
pub fn llama_entry(id: &str, dir: &Path) -> String {
    format!(
        "  - id: {id}\n    path: {}\n    dtype: f32\n    architecture: LlamaForCausalLM\n    params: 160000\n    \
         layers: 2\n    hidden: 64\n    heads: 4\n    kv_heads: 2\n    head_dim: 16\n    intermediate: 176\n    \
         vocab: 512\n    max_positions: 4096\n",
        dir.display()
    )
}

/// An OpenAI-compatible server on loopback that lists one model (`micro`) and answers every
/// POST with one fixed status and body, counting the POSTs. It runs until the test ends.
pub struct FakeServer {
    pub port: u16,
    pub posts: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FakeServer {
    /// `status` is a status line's tail (`"400 Bad Request"`), `body` the JSON it sends.
    pub fn start(status: &'static str, body: &'static str) -> FakeServer {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let posts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = posts.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    continue;
                }
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut request = vec![0; length];
                let _ = reader.read_exact(&mut request);
                let (status, text) = if first.starts_with("GET /v1/models") {
                    (
                        "200 OK",
                        r#"{"object":"list","data":[{"id":"micro","object":"model","max_model_len":4096}]}"#,
                    )
                } else {
                    count.fetch_add(1, Ordering::SeqCst);
                    (status, body)
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nretry-after: 0\r\n\
                     connection: close\r\ncontent-length: {}\r\n\r\n{text}",
                    text.len()
                );
                let _ = reader.get_mut().write_all(reply.as_bytes());
            }
        });
        FakeServer { port, posts }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }
}
