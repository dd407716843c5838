//! Sandbox tests: canonical solutions pass, and each hostile program ends as a failed sample
//! with the right failure kind, within its limits, leaving the host and the run unharmed.
//!
//! The hostile tests need the full isolation (root with namespaces and a pids cgroup, as on the
//! CI machines); each checks the probe first and fails loudly, naming what is missing, rather
//! than pass without having run.

use super::*;
use std::time::Instant;

fn sandbox(limits: Limits) -> Sandbox {
    let policy = ExecutionPolicy {
        allow_code_execution: true,
        allow_network_access: false,
    };
    Sandbox::new(limits, policy).expect("sandbox")
}

/// Small limits so hostile programs end quickly. The wall clock is generous because CI machines
/// are shared: CPU time, not wall time, stops a busy loop.
fn tight() -> Limits {
    Limits {
        cpu_seconds: 2,
        wall: Duration::from_secs(10),
        max_processes: 16,
        ..Limits::default()
    }
}

/// Fail (never skip) when the host lacks what the hostile tests rely on.
fn require_full_isolation(sb: &Sandbox) {
    let p = sb.protections();
    let missing: Vec<&str> = [
        (p.root, "root (for a dedicated unprivileged uid)"),
        (p.network_namespace, "network namespace"),
        (p.mount_namespace, "mount namespace"),
        (p.pid_namespace, "pid namespace"),
        (p.process_limit_binds(), "a binding process limit"),
        (p.seccomp, "seccomp"),
    ]
    .into_iter()
    .filter(|(ok, _)| !ok)
    .map(|(_, what)| what)
    .collect();
    assert!(
        missing.is_empty(),
        "this host lacks {missing:?}; protections: {:#?}",
        p.describe()
    );
}

/// Pids of live processes whose real uid is one of `uids`.
fn processes_of(uids: &[u32]) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next()?.parse::<u32>().ok());
        let zombie = status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'));
        if uid.is_some_and(|u| uids.contains(&u)) && !zombie {
            found.push(pid);
        }
    }
    found
}

/// The host and the run survived: a normal process still starts, nothing of the sandbox's uids
/// is left running, and the sandbox still runs a normal program.
fn assert_unharmed(sb: &Sandbox) {
    let uids = sb.slot_uids();
    assert!(!uids.is_empty(), "the slot was not returned to the pool");
    assert_eq!(
        processes_of(&uids),
        Vec::<u32>::new(),
        "processes of sandbox uids {uids:?} survived"
    );
    let status = std::process::Command::new("/bin/sh")
        .args(["-c", "exit 7"])
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(7),
        "the host cannot start a process any more"
    );
    let o = sb
        .run(&Program::python("assert sum(range(10)) == 45\n"))
        .unwrap();
    assert!(
        o.passed,
        "the sandbox no longer runs a normal program: {o:?}"
    );
}

fn run(sb: &Sandbox, src: &str) -> Outcome {
    sb.run(&Program::python(src))
        .expect("the sandbox itself failed")
}

#[test]
fn normal_program_passes_and_failing_assert_is_wrong_answer() {
    let sb = sandbox(Limits::default());
    let o = run(
        &sb,
        "print('hi')\nopen('scratch.txt', 'w').write('ok')\nassert open('/tmp/scratch.txt').read() == 'ok'\n",
    );
    assert!(o.passed, "{o:?}");
    assert_eq!(o.stdout, "hi\n");
    let o = run(&sb, "assert 1 + 1 == 3, 'math'\n");
    assert_eq!(
        (o.passed, o.failure),
        (false, Some(FailureKind::WrongAnswer)),
        "{o:?}"
    );
    assert!(o.detail.contains("math"), "{o:?}");
    let o = run(&sb, "raise ValueError('nope')\n");
    assert_eq!(o.failure, Some(FailureKind::Exception), "{o:?}");
    assert!(
        o.detail.contains("ValueError: nope") && o.stderr.contains("Traceback"),
        "{o:?}"
    );
}

#[test]
fn early_exit_or_fake_success_does_not_pass() {
    let sb = sandbox(Limits::default());
    for src in [
        "import sys\nsys.exit(0)\nassert False\n",
        "import os\nos._exit(0)\n",
        "print(' PASS')\nimport os\nos._exit(0)\n",
    ] {
        let o = run(&sb, src);
        assert_eq!(o.failure, Some(FailureKind::Exception), "{src}: {o:?}");
    }
}

#[test]
fn environment_is_scrubbed_and_unprivileged() {
    let sb = sandbox(Limits::default());
    require_full_isolation(&sb);
    let src = "import os, sys\n\
        assert os.getuid() != 0 and os.geteuid() != 0, os.getuid()\n\
        assert set(os.environ) <= {'PATH', 'HOME', 'TMPDIR', 'LANG', 'LC_ALL', 'LD_LIBRARY_PATH', 'LC_CTYPE'}, sorted(os.environ)\n\
        assert os.getcwd() == '/tmp', os.getcwd()\n\
        assert sys.stdin.read() == ''\n\
        assert os.getpid() == 1\n";
    let o = run(&sb, src);
    assert!(o.passed, "{o:?}");
}

#[test]
fn infinite_loop_is_a_timeout() {
    let sb = sandbox(tight());
    require_full_isolation(&sb);
    let start = Instant::now();
    let o = run(&sb, "while True:\n    pass\n");
    assert_eq!(o.failure, Some(FailureKind::Timeout), "{o:?}");
    assert!(o.detail.contains("CPU limit"), "{o:?}");
    assert!(
        start.elapsed() < Duration::from_secs(11),
        "took {:?}",
        start.elapsed()
    );
    assert_unharmed(&sb);
    // Sleeping uses no CPU: the wall clock catches it.
    let sb = sandbox(Limits {
        wall: Duration::from_secs(2),
        ..tight()
    });
    let o = run(&sb, "import time\ntime.sleep(1000)\n");
    assert_eq!(o.failure, Some(FailureKind::Timeout), "{o:?}");
    assert!(o.detail.contains("wall-clock"), "{o:?}");
    assert!(o.wall_ms < 4000, "{o:?}");
    assert_unharmed(&sb);
}

#[test]
fn fork_bomb_is_contained() {
    let sb = sandbox(tight());
    require_full_isolation(&sb);
    let start = Instant::now();
    let o = run(&sb, "import os\nwhile True:\n    os.fork()\n");
    assert!(!o.passed, "{o:?}");
    assert_eq!(o.failure, Some(FailureKind::Exception), "{o:?}");
    assert!(
        o.detail.contains("BlockingIOError")
            || o.detail.contains("Resource temporarily unavailable"),
        "{o:?}"
    );
    // A bomb that ignores the errors and keeps trying ends at the time limit.
    let o = run(
        &sb,
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
    );
    assert_eq!(o.failure, Some(FailureKind::Timeout), "{o:?}");
    assert!(
        start.elapsed() < Duration::from_secs(25),
        "took {:?}",
        start.elapsed()
    );
    assert_unharmed(&sb);
}

#[test]
fn process_limit_binds() {
    let limits = tight();
    let max = limits.max_processes;
    let sb = sandbox(limits);
    require_full_isolation(&sb);
    let src = "import os, time\n\
        made = 0\n\
        for _ in range(200):\n\
        \x20   try:\n\
        \x20       pid = os.fork()\n\
        \x20   except OSError:\n\
        \x20       break\n\
        \x20   if pid == 0:\n\
        \x20       time.sleep(30)\n\
        \x20       os._exit(0)\n\
        \x20   made += 1\n\
        print(made)\n\
        raise SystemExit(0)\n";
    let o = run(&sb, src);
    let made: u64 = o.stdout.trim().parse().unwrap_or_else(|_| panic!("{o:?}"));
    assert!(made < max, "made {made} processes with a limit of {max}");
    assert!(made >= 2, "could not fork at all: {o:?}");
    assert_unharmed(&sb);
}

#[test]
fn huge_allocation_is_a_memory_failure() {
    let sb = sandbox(Limits {
        address_space_bytes: 512 << 20,
        ..tight()
    });
    require_full_isolation(&sb);
    let o = run(&sb, "x = bytearray(10 * 1024 ** 3)\n");
    assert_eq!(o.failure, Some(FailureKind::Memory), "{o:?}");
    let o = run(
        &sb,
        "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024 ** 2))\n",
    );
    assert_eq!(o.failure, Some(FailureKind::Memory), "{o:?}");
    assert_unharmed(&sb);
}

#[test]
fn writing_outside_the_work_dir_fails() {
    use std::os::unix::fs::PermissionsExt;
    let sb = sandbox(tight());
    require_full_isolation(&sb);
    // A world-writable directory on the host: only isolation, not permissions, protects it.
    let host = tempfile::tempdir().unwrap();
    std::fs::set_permissions(host.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let name = format!("assay-sandbox-escape-{}", std::process::id());
    let targets: Vec<PathBuf> = [
        host.path(),
        Path::new("/etc"),
        Path::new(&home),
        Path::new("/var/tmp"),
        Path::new("/dev/shm"),
    ]
    .iter()
    .map(|d| d.join(&name))
    .collect();
    let programs: Vec<Program> = targets
        .iter()
        .map(|t| {
            Program::python(format!(
                "with open({:?}, 'w') as f:\n    f.write('escaped')\n",
                t.display().to_string()
            ))
        })
        .collect();
    for (target, o) in targets.iter().zip(sb.run_many(&programs, 2)) {
        let o = o.unwrap();
        assert_eq!(
            o.failure,
            Some(FailureKind::Exception),
            "{}: {o:?}",
            target.display()
        );
        assert!(
            !target.exists(),
            "{} was written on the host",
            target.display()
        );
    }
    assert_unharmed(&sb);
}

#[test]
fn file_size_limit_holds() {
    let sb = sandbox(Limits {
        file_size_bytes: 1 << 20,
        ..tight()
    });
    require_full_isolation(&sb);
    let o = run(
        &sb,
        "with open('big', 'wb') as f:\n    f.write(b'x' * (8 << 20))\n",
    );
    assert_eq!(o.failure, Some(FailureKind::Exception), "{o:?}");
    assert!(o.detail.contains("File too large"), "{o:?}");
}

#[test]
fn secrets_in_home_are_unreadable() {
    use std::os::unix::fs::PermissionsExt;
    let sb = sandbox(tight());
    require_full_isolation(&sb);
    let home = tempfile::tempdir().unwrap();
    let secret = home.path().join("secret.txt");
    std::fs::write(&secret, "TOPSECRET-4af1").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let real_home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    for path in [
        secret.display().to_string(),
        format!("{real_home}/.bashrc"),
        format!("{real_home}/.profile"),
    ] {
        let o = run(&sb, &format!("print(open({path:?}).read())\n"));
        assert_eq!(o.failure, Some(FailureKind::Exception), "{path}: {o:?}");
        assert!(!o.stdout.contains("TOPSECRET"), "{o:?}");
    }
    // Host processes are not visible either (private /proc).
    let o = run(
        &sb,
        "import os\nassert [p for p in os.listdir('/proc') if p.isdigit()] == ['1']\n",
    );
    assert!(o.passed, "{o:?}");
}

#[test]
fn network_is_unreachable() {
    let sb = sandbox(tight());
    require_full_isolation(&sb);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    for addr in [
        format!("('127.0.0.1', {port})"),
        "('1.1.1.1', 80)".to_string(),
        "('::1', 22)".to_string(),
    ] {
        let o = run(
            &sb,
            &format!("import socket\nsocket.create_connection({addr}, timeout=2).close()\n"),
        );
        assert_eq!(o.failure, Some(FailureKind::Exception), "{addr}: {o:?}");
        assert!(o.wall_ms < 3000, "{o:?}");
    }
    assert!(
        listener.accept().is_err(),
        "the host listener received a connection"
    );
    // Local (AF_UNIX) sockets still work for programs that use them between their own processes.
    let o = run(
        &sb,
        "import socket\na, b = socket.socketpair()\na.sendall(b'x')\nassert b.recv(1) == b'x'\n",
    );
    assert!(o.passed, "{o:?}");
}

#[test]
fn child_outliving_its_parent_is_killed() {
    let sb = sandbox(tight());
    require_full_isolation(&sb);
    let src = "import os, time\n\
        if os.fork() == 0:\n\
        \x20   os.setsid()\n\
        \x20   if os.fork() == 0:\n\
        \x20       time.sleep(300)\n\
        \x20   os._exit(0)\n\
        time.sleep(0.3)\n";
    let start = Instant::now();
    let o = run(&sb, src);
    assert_eq!(o.failure, Some(FailureKind::Killed), "{o:?}");
    assert!(o.detail.contains("left 1 process"), "{o:?}");
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "took {:?}",
        start.elapsed()
    );
    assert_unharmed(&sb);
}

#[test]
fn output_flood_is_cut_off() {
    let sb = sandbox(tight());
    require_full_isolation(&sb);
    let start = Instant::now();
    let o = run(
        &sb,
        "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(1024):\n    sys.stdout.write(chunk)\n",
    );
    assert_eq!(o.failure, Some(FailureKind::OutputLimit), "{o:?}");
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "took {:?}",
        start.elapsed()
    );
    assert!(o.stdout.len() <= EXCERPT, "{}", o.stdout.len());
    let o = run(
        &sb,
        "import os\nwhile True:\n    os.write(2, b'y' * 65536)\n",
    );
    assert_eq!(o.failure, Some(FailureKind::OutputLimit), "{o:?}");
    assert_unharmed(&sb);
}

#[test]
fn code_execution_needs_the_flag() {
    let err = Sandbox::new(Limits::default(), ExecutionPolicy::default()).unwrap_err();
    assert!(matches!(err, SandboxError::NotAllowed));
    assert!(err.to_string().contains(ALLOW_CODE_EXECUTION_FLAG), "{err}");
    let why = ExecutionPolicy::default()
        .skip_reason("code_generation")
        .unwrap();
    assert!(
        why.contains("code_generation") && why.contains(ALLOW_CODE_EXECUTION_FLAG),
        "{why}"
    );
    let on = ExecutionPolicy {
        allow_code_execution: true,
        allow_network_access: false,
    };
    assert_eq!(on.skip_reason("code_generation"), None);
}

#[test]
fn probe_describes_every_protection() {
    let p = Sandbox::probe();
    let lines = p.describe();
    for word in [
        "unprivileged user",
        "network",
        "filesystem",
        "processes",
        "process count",
        "rlimits",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(word)),
            "{word} missing from {lines:#?}"
        );
    }
}

fn shipped_problems(split: &str) -> Vec<HumanEvalProblem> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../datasets/code_generation")
        .join(format!("{split}.jsonl"));
    load_humaneval_jsonl(&path).unwrap()
}

#[test]
fn shipped_canonical_solutions_pass_and_empty_bodies_fail() {
    let sb = sandbox(Limits::default());
    let problems = shipped_problems("test");
    assert_eq!(problems.len(), 48);
    let canonical: Vec<Program> = problems
        .iter()
        .map(|p| {
            Program::python(p.program(p.canonical_solution.as_deref().expect("canonical solution")))
        })
        .collect();
    for (p, o) in problems.iter().zip(sb.run_many(&canonical, 2)) {
        let o = o.unwrap();
        assert!(o.passed, "{}: canonical solution failed: {o:?}", p.task_id);
    }
    let empty: Vec<Program> = problems
        .iter()
        .map(|p| Program::python(p.program("    pass\n")))
        .collect();
    for (p, o) in problems.iter().zip(sb.run_many(&empty, 2)) {
        let o = o.unwrap();
        assert!(
            matches!(
                o.failure,
                Some(FailureKind::WrongAnswer | FailureKind::Exception)
            ),
            "{}: empty body did not fail as wrong answer/exception: {o:?}",
            p.task_id
        );
    }
    for p in shipped_problems("fewshot") {
        let o = sb
            .score_humaneval(&p, p.canonical_solution.as_deref().unwrap())
            .unwrap();
        assert!(o.passed, "{}: {o:?}", p.task_id);
    }
}

#[test]
fn humaneval_jsonl_scored_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("HumanEval.jsonl");
    let row = serde_json::json!({
        "task_id": "HumanEval/0",
        "prompt": "from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n    \"\"\" Check if in given list of numbers, are any two numbers closer to each other than\n    given threshold.\n    \"\"\"\n",
        "entry_point": "has_close_elements",
        "canonical_solution": "    for idx, elem in enumerate(numbers):\n        for idx2, elem2 in enumerate(numbers):\n            if idx != idx2:\n                distance = abs(elem - elem2)\n                if distance < threshold:\n                    return True\n\n    return False\n",
        "test": "\n\nMETADATA = {\n    'author': 'jt',\n    'dataset': 'test'\n}\n\n\ndef check(candidate):\n    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True\n    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False\n    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True\n    assert candidate([1.1, 2.2, 3.1, 4.1, 5.1], 1.0) == True\n\n"
    });
    std::fs::write(&path, format!("{row}\n")).unwrap();
    let problems = load_humaneval_jsonl(&path).unwrap();
    let p = &problems[0];
    let sb = sandbox(Limits::default());
    let completions = [
        p.canonical_solution.clone().unwrap(),
        "    return False\n".to_string(),
        "    return numbers[100]\n".to_string(),
        "    while True:\n        pass\n".to_string(),
    ];
    let programs: Vec<Program> = completions
        .iter()
        .map(|c| Program::python(p.program(c)))
        .collect();
    let sb_fast = sandbox(tight());
    let outcomes: Vec<Outcome> = sb_fast
        .run_many(&programs, 2)
        .into_iter()
        .map(|o| o.unwrap())
        .collect();
    let kinds: Vec<Option<FailureKind>> = outcomes.iter().map(|o| o.failure).collect();
    assert_eq!(
        kinds,
        vec![
            None,
            Some(FailureKind::WrongAnswer),
            Some(FailureKind::Exception),
            Some(FailureKind::Timeout)
        ]
    );
    let result = ProblemResult::new(&p.task_id, &outcomes, &[1, 2, 5]);
    assert_eq!((result.n, result.passed), (4, 1));
    assert!((result.pass_at_k[&1] - 0.25).abs() < 1e-12);
    assert!((result.pass_at_k[&2] - 0.5).abs() < 1e-12);
    assert!(!result.pass_at_k.contains_key(&5));
    let json = serde_json::to_string(&result).unwrap();
    assert!(
        json.contains("\"wrong_answer\"") && json.contains("\"timeout\""),
        "{json}"
    );
    assert!(
        sb.score_humaneval(p, p.canonical_solution.as_deref().unwrap())
            .unwrap()
            .passed
    );
}

/// Throughput on the 48 shipped canonical solutions: `cargo test -p assay --lib
/// sandbox::tests::bench_canonical_throughput -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark: prints programs/s, run on a quiet machine"]
fn bench_canonical_throughput() {
    let sb = sandbox(Limits::default());
    let problems = shipped_problems("test");
    let programs: Vec<Program> = problems
        .iter()
        .map(|p| Program::python(p.program(p.canonical_solution.as_deref().unwrap_or(""))))
        .collect();
    sb.run_many(&programs[..4], 2);
    for parallelism in [1, 2, 4, 8] {
        let start = Instant::now();
        let rounds = 3;
        for _ in 0..rounds {
            assert!(
                sb.run_many(&programs, parallelism)
                    .into_iter()
                    .all(|o| o.is_ok_and(|o| o.passed))
            );
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "parallelism {parallelism}: {} programs in {secs:.2}s = {:.1} programs/s",
            programs.len() * rounds,
            (programs.len() * rounds) as f64 / secs
        );
    }
}

#[test]
fn memory_of_many_processes_is_bounded_together() {
    let sb = sandbox(Limits {
        memory_bytes: 512 << 20,
        ..tight()
    });
    require_full_isolation(&sb);
    assert!(
        sb.protections().cgroup_memory.is_some(),
        "no memory cgroup on this host"
    );
    // Each child stays under the per-process address-space limit; together they do not.
    let src = "import os, time\n\
        kids = []\n\
        for _ in range(8):\n\
        \x20   pid = os.fork()\n\
        \x20   if pid == 0:\n\
        \x20       x = b'x' * (200 << 20)\n\
        \x20       time.sleep(3)\n\
        \x20       os._exit(0)\n\
        \x20   kids.append(pid)\n\
        for pid in kids:\n\
        \x20   os.waitpid(pid, 0)\n";
    let o = run(&sb, src);
    assert_eq!(o.failure, Some(FailureKind::Memory), "{o:?}");
    assert_unharmed(&sb);
}

#[test]
fn notice_names_interpreter_limits_and_protections() {
    let sb = sandbox(Limits::default());
    let lines = sb.notice();
    assert!(
        lines[0].contains("python")
            && lines[0].contains("10s CPU")
            && lines[0].contains("32 processes"),
        "{lines:#?}"
    );
    assert_eq!(lines.len(), 1 + sb.protections().describe().len());
}

#[test]
fn filling_the_disk_stops_at_the_private_tmp() {
    let sb = sandbox(Limits {
        disk_bytes: 8 << 20,
        ..tight()
    });
    require_full_isolation(&sb);
    let src = "for i in range(1000):\n    with open('f%d' % i, 'wb') as f:\n        f.write(b'x' * (1 << 20))\n";
    let o = run(&sb, src);
    assert_eq!(o.failure, Some(FailureKind::Exception), "{o:?}");
    assert!(o.detail.contains("No space left on device"), "{o:?}");
    // The runner and the program are read-only to it.
    let o = run(&sb, "open('/tmp/.program/program.py', 'a').write('x')\n");
    assert_eq!(o.failure, Some(FailureKind::Exception), "{o:?}");
    assert_unharmed(&sb);
}

#[test]
fn sandbox_can_be_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Sandbox>();
    shared::<Outcome>();
    let sb = sandbox(Limits::default());
    let programs: Vec<Program> = (0..6)
        .map(|i| Program::python(format!("print({i})\nassert {i} % 2 == 0\n")))
        .collect();
    let outcomes: Vec<Outcome> = sb
        .run_many(&programs, 3)
        .into_iter()
        .map(|o| o.unwrap())
        .collect();
    for (i, o) in outcomes.iter().enumerate() {
        assert_eq!(o.stdout.trim(), i.to_string(), "outcomes out of order");
        assert_eq!(o.passed, i % 2 == 0, "{o:?}");
    }
}

#[test]
fn impossible_limits_are_rejected_with_field_and_value() {
    let policy = ExecutionPolicy {
        allow_code_execution: true,
        allow_network_access: false,
    };
    let limits = Limits {
        address_space_bytes: 1000,
        ..Limits::default()
    };
    let err = Sandbox::new(limits, policy).unwrap_err().to_string();
    assert!(
        err.contains("`address_space_bytes` must be >= 67108864. Given: 1000"),
        "{err}"
    );
    assert!(Limits::default().check().is_ok());
}

#[test]
fn without_network_isolation_code_runs_only_with_the_named_flag() {
    let exposed = Protections {
        network_namespace: false,
        seccomp: false,
        ..Sandbox::probe()
    };
    let on = ExecutionPolicy {
        allow_code_execution: true,
        allow_network_access: false,
    };
    let err = on.admit(&exposed).unwrap_err();
    assert!(matches!(err, SandboxError::NoNetworkIsolation));
    assert!(err.to_string().contains(ALLOW_NETWORK_FLAG), "{err}");
    let accepted = ExecutionPolicy {
        allow_network_access: true,
        ..on
    };
    assert!(accepted.admit(&exposed).is_ok());
    assert!(ExecutionPolicy::default().admit(&exposed).is_err());
    let lines = exposed.describe().join("\n");
    assert!(lines.contains("OFF network: NOT isolated"), "{lines}");
}
