//! Failures that explain themselves: a server that refuses every request gives a failed run
//! whose reason (the HTTP status, the server's words, the endpoint) is in the run's table, its
//! `--json`, `show`, `history`, `export` and the report; requests that cannot work are refused
//! before anything is stored; each command maps bad input to exit code 2; a database that
//! cannot be written is an error before any work, and one that cannot be written is still read.
#![allow(clippy::unwrap_used)]

use crate::remote::{json, remote_entry, run};
use crate::util::{FakeServer, Scratch};
use std::path::Path;
use std::sync::atomic::Ordering;

/// A generation dataset of `n` items (enough to see a run give up before the end).
fn many_dataset(s: &Scratch, n: usize) {
    s.write(
        "datasets/many/manifest.yaml",
        "task: many\ndata_files:\n  test: test.jsonl\noutput_type: generate_until\n\
         doc_to_text: \"Question: {{ question }}\\nAnswer:\"\ndoc_to_target: \"{{ answer }}\"\n\
         generation_kwargs:\n  until: [\"\\n\"]\n  max_gen_toks: 8\n\
         metric_list:\n  - metric: exact_match\n",
    );
    let rows: String = (0..n)
        .map(|i| format!("{{\"question\": \"{i} + 1\", \"answer\": \"{}\"}}\n", i + 1))
        .collect();
    s.write("datasets/many/test.jsonl", &rows);
}

fn rejecting_catalog(server: &FakeServer) -> Scratch {
    let s = Scratch::new();
    many_dataset(&s, 20);
    s.write(
        "categories/rejected.yaml",
        "name: rejected\ndescription: x\nmodels: [picky-micro]\ndatasets: [many, tf]\n",
    );
    s.edit(
        "categories/models.yaml",
        "models:\n",
        &format!(
            "models:\n{}",
            remote_entry("picky-micro", &server.base_url(), "PICKY_KEY")
        ),
    );
    s
}

const REFUSAL: &str = r#"{"error":{"message":"max_tokens must be at most 2 for this deployment","type":"invalid_request_error"}}"#;

#[test]
fn a_server_that_refuses_every_request_fails_the_run_and_says_why_everywhere() {
    let server = FakeServer::start("400 Bad Request", REFUSAL);
    let s = rejecting_catalog(&server);
    let db = s.dir.path().join("f.db");
    let key = [("PICKY_KEY", "k")];

    let out = run(&s, &db, &["--json", "run", "rejected"], &key);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let v = json(&out);
    assert_eq!(v["status"], "failed", "{v}");
    let job = &v["jobs"][0];
    assert_eq!(job["status"], "failed", "{job}");
    let many = job["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "many")
        .unwrap();
    assert_eq!(many["status"], "failed", "{many}");
    assert_eq!(many["failures"][0]["kind"], "http_400", "{many}");
    let example = many["failures"][0]["example"].as_str().unwrap();
    assert!(example.contains("HTTP 400"), "{example}");
    assert!(
        example.contains("max_tokens must be at most 2"),
        "{example}"
    );
    assert!(
        example.contains(&format!("127.0.0.1:{}/v1/", server.port)),
        "{example}"
    );
    // Not scored: nothing to score.
    assert_eq!(many["aggregates"].as_array().unwrap().len(), 0, "{many}");
    let error = many["error"].as_str().unwrap();
    assert!(
        error.contains("gave up after the first 8 samples"),
        "{error}"
    );
    // The same refusal eight times in a row (the first batch is no larger than that): the other
    // twelve items were never sent. `tf` adds at most one request per choice of its 2 items.
    let posts = server.posts.load(Ordering::SeqCst);
    assert!((8..=12).contains(&posts), "{posts} requests");

    // The human table names the reason too.
    let db2 = s.dir.path().join("f2.db");
    let out = run(&s, &db2, &["run", "rejected"], &key);
    assert_eq!(out.code, 1);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("HTTP 400"), "{all}");
    assert!(all.contains("max_tokens must be at most 2"), "{all}");
    assert!(all.contains("failed"), "{all}");

    // show: the run's error, the jobs' and the datasets' failure summaries.
    let out = run(&s, &db, &["show", "1"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("http_400"), "{}", out.stdout);
    assert!(
        out.stdout.contains("max_tokens must be at most 2"),
        "{}",
        out.stdout
    );
    let out = run(&s, &db, &["--json", "show", "1"], &[]);
    let shown = json(&out);
    let run_error = shown["run"]["error"].as_str().unwrap();
    assert!(run_error.contains("HTTP 400"), "{run_error}");

    // history: the failed run is found by its status, with its failures.
    let out = run(&s, &db, &["--json", "history", "--status", "failed"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows = json(&out);
    let rows = rows.as_array().unwrap();
    let row = rows.iter().find(|r| r["dataset"] == "many").unwrap();
    assert_eq!(row["job_status"], "failed", "{row}");
    assert_eq!(row["value"], serde_json::Value::Null, "{row}");
    assert_eq!(row["failures"][0]["kind"], "http_400", "{row}");
    let out = run(&s, &db, &["history"], &[]);
    assert!(out.stdout.contains("not scored"), "{}", out.stdout);
    assert!(out.stdout.contains("HTTP 400"), "{}", out.stdout);

    // export refuses a failed run unless asked, and then marks it.
    let out = run(&s, &db, &["export", "1"], &[]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("--include-failed"), "{}", out.stderr);
    assert!(out.stderr.contains("HTTP 400"), "{}", out.stderr);
    let out = run(&s, &db, &["export", "1", "--include-failed"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = json(&out);
    assert_eq!(doc["assay"]["run_status"], "failed", "{doc}");
    assert!(doc["results"].get("many").is_none(), "{doc}");
    let summary = doc["assay"]["failures"]["many"]["summary"]
        .as_str()
        .unwrap();
    assert!(summary.contains("http_400"), "{summary}");

    // The report says it on the page.
    let dir = s.dir.path().join("report");
    let out = run(
        &s,
        &db,
        &["report", "1", "--out", dir.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(page.contains("HTTP 400"), "report lacks the reason");
    assert!(page.contains("max_tokens must be at most 2"));
}

/// What can be known before loading anything is refused with exit code 2, and no run is
/// recorded for it.
#[test]
fn impossible_settings_are_refused_before_a_run_is_recorded() {
    let s = Scratch::new();
    let micro = crate::util::fixture("llama-micro");
    many_dataset(&s, 3);
    s.write(
        "categories/one.yaml",
        "name: one\ndescription: x\nmodels: [local-micro]\ndatasets: [many, arith]\n",
    );
    s.edit(
        "categories/models.yaml",
        "models:\n",
        &format!(
            "models:\n{}",
            crate::util::llama_entry("local-micro", &micro)
        ),
    );
    let db = s.dir.path().join("p.db");
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--gen-kwargs", "temperature=-1,do_sample=true"],
            &["temperature", "between 0 and 100", "-1"],
        ),
        (
            &["--gen-kwargs", "temperature=nan"],
            &["temperature", "NaN"],
        ),
        (&["--gen-kwargs", "top_p=0"], &["top_p", "(0, 1]", "0"]),
        (
            &["--gen-kwargs", "max_gen_toks=1000000000"],
            &["max_gen_toks", "1000000", "1000000000"],
        ),
        (
            &["--gen-kwargs", "max_gen_toks=5000"],
            &["max_gen_toks 5000", "window of 4096", "local-micro"],
        ),
        (
            &["--max-seq-len", "8"],
            &["max_gen_toks 8", "window of 8", "--max-seq-len"],
        ),
        (
            &["--engine", "tensor-parallel", "--tp", "3"],
            &[
                "--tp 3 is not valid for local-micro",
                "does not divide num_attention_heads 4",
                "try --tp 2",
            ],
        ),
        (
            &["--num-fewshot", "100000"],
            &[
                "100000 few-shot example",
                "arith",
                "--num-fewshot",
                "at most 2",
            ],
        ),
    ];
    for (flags, expected) in cases {
        let mut args = vec!["run", "one"];
        args.extend_from_slice(flags);
        let out = run(&s, &db, &args, &[]);
        assert_eq!(out.code, 2, "{flags:?}: {}\n{}", out.stdout, out.stderr);
        for e in *expected {
            assert!(
                out.stderr.contains(e),
                "{flags:?}: `{e}` not in {}",
                out.stderr
            );
        }
        assert!(!out.stderr.contains("resume"), "{}", out.stderr);
    }
    // Nothing was recorded: the database holds no run.
    let out = run(&s, &db, &["history"], &[]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("holds no runs"), "{}", out.stderr);
}

/// One exit-code rule: a path that is not a results database, a directory given as one, and
/// an unreadable checkpoint are bad input (2) for every command that takes them.
#[test]
fn bad_paths_are_input_errors_in_every_command() {
    let s = Scratch::new();
    let text = s.dir.path().join("notes.txt");
    std::fs::write(&text, "not a database").unwrap();
    let dir = s.dir.path().join("a-directory");
    std::fs::create_dir_all(&dir).unwrap();
    let micro = crate::util::fixture("llama-micro");
    let run_args = [
        "run",
        "--model",
        micro.to_str().unwrap(),
        "--datasets",
        "tf",
    ];
    for db in [&text, &dir] {
        for args in [
            &run_args[..],
            &["history"][..],
            &["show", "1"][..],
            &["export", "1"][..],
            &["report", "1"][..],
            &["compare", "1", "2"][..],
        ] {
            let out = run(&s, db, args, &[]);
            assert_eq!(
                out.code,
                2,
                "{args:?} --db {}: {}",
                db.display(),
                out.stderr
            );
            assert!(
                out.stderr.contains(&db.display().to_string()),
                "{args:?}: {}",
                out.stderr
            );
        }
    }
    // A checkpoint whose weights are damaged: `bench` says so with exit code 2, like `run`.
    let broken = s.dir.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        if micro.join(f).exists() {
            std::fs::copy(micro.join(f), broken.join(f)).unwrap();
        }
    }
    std::fs::write(
        broken.join("model.safetensors"),
        b"\x08\x00\x00\x00\x00\x00\x00\x00{}",
    )
    .unwrap();
    for args in [
        vec!["bench", broken.to_str().unwrap()],
        vec!["serve", broken.to_str().unwrap(), "--port", "0"],
    ] {
        let out = run(&s, &text, &args, &[]);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("broken"), "{args:?}: {}", out.stderr);
    }
}

/// Run the binary as an unprivileged user when the tests run as root (root passes every
/// permission check, so a read-only file is only read-only to someone else).
fn as_nobody(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::geteuid() == 0 && (libc::setgid(65534) != 0 || libc::setuid(65534) != 0) {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The binary, copied where an unprivileged user can run it.
fn public_binary(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("assay");
    std::fs::copy(env!("CARGO_BIN_EXE_assay"), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn open_to_all(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_database_that_cannot_be_written_is_refused_before_work_and_still_read() {
    let s = Scratch::new();
    let micro = crate::util::fixture("llama-micro");
    let base = tempfile::Builder::new()
        .prefix("assay-ro")
        .tempdir_in("/tmp")
        .unwrap();
    open_to_all(base.path(), 0o755);
    let bin = public_binary(base.path());
    let catalog = base.path().join("catalog");
    crate::util::copy_tree(&s.catalog(), &catalog);
    let ro = base.path().join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    // A database with one finished run, then its directory and file made read-only.
    let db = ro.join("r.db");
    let out = run(
        &s,
        &db,
        &[
            "run",
            "--model",
            micro.to_str().unwrap(),
            "--datasets",
            "tf",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    open_to_all(&db, 0o444);
    open_to_all(&ro, 0o555);
    let assay = |args: &[&str]| {
        let mut cmd = std::process::Command::new(&bin);
        cmd.args(["--catalog", catalog.to_str().unwrap()])
            .args(args)
            .env_remove("ASSAY_CATALOG")
            .env("ASSAY_NO_BUILTIN_CATALOG", "1")
            .env("HOME", base.path())
            .env("XDG_CACHE_HOME", base.path().join("cache"));
        as_nobody(&mut cmd);
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Reading works: history, show, export, report.
    for args in [
        vec!["--db", db.to_str().unwrap(), "history"],
        vec!["--db", db.to_str().unwrap(), "show", "1"],
        vec!["--db", db.to_str().unwrap(), "export", "1"],
    ] {
        let (code, stdout, stderr) = assay(&args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        assert!(stdout.contains("tf"), "{args:?}: {stdout}");
    }
    let out_dir = base.path().join("report");
    std::fs::create_dir_all(&out_dir).unwrap();
    open_to_all(&out_dir, 0o777);
    let (code, _, stderr) = assay(&[
        "--db",
        db.to_str().unwrap(),
        "report",
        "1",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "report: {stderr}");
    assert!(out_dir.join("report.html").exists());
    // A new database in the read-only directory: an error naming the path and the cause,
    // before any work, and no resume command for a run that was never stored.
    let new_db = ro.join("new.db");
    let (code, stdout, stderr) = assay(&[
        "--db",
        new_db.to_str().unwrap(),
        "run",
        "--model",
        micro.to_str().unwrap(),
        "--datasets",
        "tf",
    ]);
    assert_ne!(code, 0, "{stdout}");
    assert!(stderr.contains(new_db.to_str().unwrap()), "{stderr}");
    assert!(
        !stderr.contains("resume") && !stdout.contains("resume"),
        "{stderr}"
    );
    assert!(!new_db.exists() || std::fs::metadata(&new_db).unwrap().len() == 0);
    // Writing to the read-only database is refused the same way.
    let (code, _, stderr) = assay(&[
        "--db",
        db.to_str().unwrap(),
        "run",
        "--model",
        micro.to_str().unwrap(),
        "--datasets",
        "tf",
        "--fresh",
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains(db.to_str().unwrap()), "{stderr}");
    assert!(!stderr.contains("resume"), "{stderr}");
    open_to_all(&ro, 0o755);
}

/// A disk that fills while the database is created (here: a file-size limit on the process):
/// the error names the database and the cause, nothing runs, no resume command is printed, and
/// the same command succeeds once there is room.
#[test]
fn a_disk_full_while_creating_the_database_is_an_error_before_any_work() {
    use std::os::unix::process::CommandExt;
    let s = Scratch::new();
    let micro = crate::util::fixture("llama-micro");
    let catalog = s.catalog();
    // Limits that stop the schema, the run's first write, and what comes after it (KiB).
    for limit_kib in [40u64, 160, 400] {
        let db = s.dir.path().join(format!("full-{limit_kib}.db"));
        let args = [
            "--catalog",
            catalog.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "run",
            "--model",
            micro.to_str().unwrap(),
            "--datasets",
            "tf",
        ];
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_assay"));
        cmd.args(args)
            .env_remove("ASSAY_CATALOG")
            .env("ASSAY_NO_BUILTIN_CATALOG", "1");
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // Writes past the limit fail with EFBIG instead of killing the process.
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let limit = libc::rlimit {
                    rlim_cur: limit_kib * 1024,
                    rlim_max: limit_kib * 1024,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{limit_kib} KiB: {stdout}\n{stderr}"
        );
        assert!(
            stderr.contains(db.to_str().unwrap()),
            "{limit_kib} KiB: {stderr}"
        );
        assert!(
            !stderr.contains("resume") && !stdout.contains("resume"),
            "{limit_kib} KiB: {stdout}\n{stderr}"
        );
        assert!(
            !stdout.contains("acc,none"),
            "{limit_kib} KiB: work was done: {stdout}"
        );
        // With room again, the same command uses the same file and runs.
        let out = crate::util::run(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>(), &[]);
        assert_eq!(
            out.code, 0,
            "{limit_kib} KiB: {}\n{}",
            out.stdout, out.stderr
        );
    }
}
