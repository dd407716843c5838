//! Sandbox tests: canonical solutions pass, and each hostile program ends as a failed sample
//! with the right failure kind, within its limits, leaving the host unharmed.

use super::*;

fn sandbox(limits: Limits) -> Sandbox {
    let policy = ExecutionPolicy {
        allow_code_execution: true,
        allow_network_access: false,
    };
    Sandbox::new(limits, policy).expect("sandbox")
}

#[test]
fn smoke() {
    let sb = sandbox(Limits::default());
    let o = sb
        .run(&Program::python("print('hi')\nassert 1 + 1 == 2\n"))
        .unwrap();
    assert!(o.passed, "{o:?}");
    let o = sb.run(&Program::python("assert 1 + 1 == 3\n")).unwrap();
    assert_eq!(o.failure, Some(FailureKind::WrongAnswer), "{o:?}");
}
