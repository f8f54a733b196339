//! What `fly-tokens get` says about a fly CLI that fails: the binary run
//! against fake `fly` scripts on `PATH`.

mod support;

use std::process::Output;

use support::sandbox::Sandbox;

fn get(s: &Sandbox) -> (Output, String) {
    let out = s.command(&["get", "my-app"]).output().expect("run fly-tokens");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty(), "{err}");
    (out, err)
}

#[test]
fn the_error_line_is_quoted_sanitised_and_hints_look_at_all_of_stderr() {
    let s = Sandbox::new();
    // As real flyctl does: a notice first, the error in colour, then advice.
    s.fly(
        "printf '\\033[33mA new release of flyctl is available\\033[0m\\n' >&2\n\
         printf '\\033[31mError:\\033[0m token FlyV1 fm2_c2VjcmV0,fo1_b3RoZXI= rejected\\a\\n' >&2\n\
         echo \"Run 'fly auth login' to log in again\" >&2\nexit 1",
    );
    let (_, err) = get(&s);
    assert!(
        err.contains("fly CLI:       exit code 1: Error: token FlyV1 … rejected\n"),
        "{err:?}"
    );
    assert!(
        !err.contains("c2VjcmV0") && !err.contains("b3RoZXI"),
        "no token: {err:?}"
    );
    assert!(
        !err.contains('\x1b') && !err.contains('\x07'),
        "no control characters: {err:?}"
    );
    assert!(
        err.contains("`fly auth login`"),
        "the hint comes from a later line: {err}"
    );
}

#[test]
fn a_cli_killed_by_a_signal_is_named_by_it() {
    let s = Sandbox::new();
    s.fly("echo 'Error: about to crash' >&2\nkill -SEGV $$");
    let (_, err) = get(&s);
    assert!(
        err.contains("fly CLI:       killed by SIGSEGV: Error: about to crash"),
        "{err}"
    );
    assert!(!err.contains("exit code -1"), "{err}");
}

#[test]
fn output_over_the_limit_is_too_large_not_nothing() {
    let s = Sandbox::new();
    s.fly("head -c 100000 /dev/zero | tr '\\0' a");
    let (_, err) = get(&s);
    assert!(err.contains("its output is too large"), "{err}");
    assert!(!err.contains("printed nothing"), "{err}");
}
