//! The process runner against real processes: fake `fly` scripts.

mod support;

use std::io;
use std::time::{Duration, Instant};

use atlas_app_server::CmdFn;
use atlas_fly_cli::{ProcessCmd, TokenShapeCheck, DEFAULT_OUTPUT_LIMIT};
use support::{dead, read_pids, reaped, script, wait_until};

fn runner_for(body: &str) -> (tempfile::TempDir, ProcessCmd) {
    let dir = tempfile::tempdir().expect("tempdir");
    let fly = script(dir.path(), "fly", body);
    (dir, ProcessCmd::new().fly_bin(fly))
}

#[tokio::test]
async fn stdout_is_the_token_and_stderr_stays_apart() {
    let (_d, cmd) = runner_for("echo 'Update available: 0.3 -> 0.4' >&2\necho 'FlyV1 fm2_abc'\necho 'done' >&2");
    let out = cmd.run("fly", &["tokens", "create", "readonly"]).await.expect("run");
    assert_eq!(out.exit_code, 0);
    assert_eq!(out.stdout, "FlyV1 fm2_abc\n");
    assert_eq!(out.stderr, "Update available: 0.3 -> 0.4\ndone\n");
}

#[tokio::test]
async fn args_reach_the_program_and_the_exit_code_comes_back() {
    let (_d, cmd) = runner_for("printf '%s|' \"$@\" >&2\nexit 3");
    let out = cmd
        .run("fly", &["tokens", "create", "readonly", "-o", "my org"])
        .await
        .expect("run");
    assert_eq!(out.exit_code, 3);
    assert_eq!(out.stderr, "tokens|create|readonly|-o|my org|");
    assert_eq!(out.stdout, "");
}

#[tokio::test]
async fn stdin_is_null_and_there_is_no_terminal() {
    // With an inherited stdin, `cat` would wait for input forever.
    let (_d, cmd) = runner_for("[ -t 0 ] && echo tty\ncat\necho ok");
    let out = tokio::time::timeout(Duration::from_secs(10), cmd.run("fly", &[]))
        .await
        .expect("cat saw EOF at once")
        .expect("run");
    assert_eq!(out.stdout, "ok\n");
}

#[tokio::test]
async fn killed_by_a_signal_is_named_by_the_signal() {
    let (_d, cmd) = runner_for("echo 'about to crash' >&2\nkill -SEGV $$");
    let out = cmd.run("fly", &[]).await.expect("run");
    assert_eq!((out.exit_code, out.signal), (-1, Some(11)));
    assert_eq!(out.stderr, "about to crash\n");
    let (_d, cmd) = runner_for("exit 139");
    let out = cmd.run("fly", &[]).await.expect("run");
    assert_eq!((out.exit_code, out.signal), (139, None), "an exit code is not a signal");
}

#[tokio::test]
async fn the_cli_leads_a_session_of_its_own_without_a_terminal() {
    // Field 6 of /proc/PID/stat is the session id; the comm field ("fly")
    // holds no space.
    let (_d, cmd) = runner_for(
        "echo \"$$ $(cut -d' ' -f6 /proc/$$/stat)\"\n\
         if (exec 3</dev/tty) 2>/dev/null; then echo tty; else echo no-tty; fi",
    );
    let out = cmd.run("fly", &[]).await.expect("run");
    let mut lines = out.stdout.lines();
    let ids: Vec<&str> = lines.next().expect("ids").split(' ').collect();
    assert_eq!(ids[0], ids[1], "its session id is its pid: {}", out.stdout);
    assert_eq!(lines.next(), Some("no-tty"), "/dev/tty cannot be opened");
}

#[tokio::test]
async fn flyctl_is_told_not_to_check_for_updates() {
    let (_d, cmd) = runner_for("echo \"[$FLY_NO_UPDATE_CHECK]\"");
    assert_eq!(cmd.run("fly", &[]).await.expect("run").stdout, "[1]\n");
}

#[tokio::test]
async fn what_the_cli_leaves_in_its_group_dies_when_it_exits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pids = dir.path().join("pids");
    // The straggler holds none of the output pipes: nothing waits for it.
    let fly = script(
        dir.path(),
        "fly",
        &format!(
            "sleep 300 </dev/null >/dev/null 2>&1 &\necho \"$$ $!\" > '{}'\necho FlyV1 fm2_tok",
            pids.display()
        ),
    );
    let out = ProcessCmd::new().fly_bin(fly).run("fly", &[]).await.expect("run");
    assert_eq!((out.exit_code, out.stdout.as_str()), (0, "FlyV1 fm2_tok\n"));
    let p = read_pids(&pids).await;
    assert!(wait_until(p[1], dead).await, "the straggler was killed");
}

#[test]
fn the_cli_outlives_the_thread_that_started_it() {
    // PR_SET_PDEATHSIG follows the thread that forked: a CLI forked by a
    // thread that then exits must not be killed with it.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let (pids, go) = (dir.path().join("pids"), dir.path().join("go"));
    let fly = script(
        dir.path(),
        "fly",
        &format!(
            "echo $$ > '{}'\ni=0\nwhile [ ! -e '{}' ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n\
             echo FlyV1 fm2_late",
            pids.display(),
            go.display()
        ),
    );
    let cmd = ProcessCmd::new().fly_bin(fly);
    let mut run = Box::pin(async move { cmd.run("fly", &[]).await });
    std::thread::scope(|s| {
        s.spawn(|| {
            rt.block_on(async {
                tokio::select! {
                    out = &mut run => panic!("the fake fly finished early: {out:?}"),
                    _ = read_pids(&pids) => {}
                }
            });
        });
    });
    // That thread is gone; the CLI is still running.
    std::fs::write(&go, "").expect("go");
    let out = rt.block_on(run).expect("run");
    assert_eq!((out.signal, out.exit_code), (None, 0), "{out:?}");
    assert_eq!(out.stdout, "FlyV1 fm2_late\n");
}

#[tokio::test]
async fn dropping_the_future_kills_the_whole_group_and_reaps_the_child() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pids = dir.path().join("pids");
    let fly = script(
        dir.path(),
        "fly",
        &format!("sleep 300 &\necho \"$$ $!\" > '{}'\nwait", pids.display()),
    );
    let cmd = ProcessCmd::new().fly_bin(fly);
    // Boxed, so that `drop` really drops the future (not a pinned reference).
    let mut run = Box::pin(cmd.run("fly", &[]));
    let (wrapper, child) = tokio::select! {
        out = &mut run => panic!("the fake fly finished: {out:?}"),
        pids = read_pids(&pids) => (pids[0], pids[1]),
    };
    assert!(support::proc_state(wrapper).is_some() && support::proc_state(child).is_some());
    drop(run);
    assert!(
        wait_until(wrapper, reaped).await,
        "the fly process was killed and reaped: {:?} / child {:?}",
        support::proc_state(wrapper),
        support::proc_state(child)
    );
    assert!(wait_until(child, dead).await, "its child (same group) was killed too");
}

#[tokio::test]
async fn a_hang_past_the_timeout_ends_within_it_and_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pids = dir.path().join("pids");
    let fly = script(
        dir.path(),
        "fly",
        &format!("sleep 300 &\necho \"$$ $!\" > '{}'\nwait", pids.display()),
    );
    let cmd = ProcessCmd::new().fly_bin(fly);
    let started = Instant::now();
    let res = tokio::time::timeout(Duration::from_millis(700), cmd.run("fly", &[])).await;
    assert!(res.is_err(), "timed out");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let p = read_pids(&pids).await;
    assert!(wait_until(p[0], reaped).await);
    assert!(wait_until(p[1], dead).await);
}

#[tokio::test]
async fn a_child_left_holding_the_pipes_is_killed_after_the_cli_exits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pids = dir.path().join("pids");
    // The background sleep inherits stdout, so the pipe stays open after the
    // script exits.
    let fly = script(
        dir.path(),
        "fly",
        &format!("sleep 300 &\necho \"$$ $!\" > '{}'\necho FlyV1 fm2_tok", pids.display()),
    );
    let started = Instant::now();
    let out = ProcessCmd::new().fly_bin(fly).run("fly", &[]).await.expect("run");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!((out.exit_code, out.stdout.as_str()), (0, "FlyV1 fm2_tok\n"));
    let p = read_pids(&pids).await;
    assert!(wait_until(p[1], dead).await, "the straggler was killed");
}

#[tokio::test]
async fn output_is_capped_while_draining() {
    // 8 MiB on each stream: far more than a pipe buffer, so an undrained
    // stream would block the child forever.
    let (_d, cmd) =
        runner_for("head -c 8388608 /dev/zero | tr '\\0' a\nhead -c 8388608 /dev/zero | tr '\\0' e >&2\necho tail >&2");
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.run("fly", &[]))
        .await
        .expect("no deadlock")
        .expect("run");
    assert_eq!(out.exit_code, 0);
    assert_eq!(out.stdout, "", "an overflowing stdout is discarded whole");
    assert!(out.stdout_truncated, "and said to be too large");
    assert!(out.stderr.len() < DEFAULT_OUTPUT_LIMIT + 200, "{}", out.stderr.len());
    assert!(out.stderr.starts_with("eeee"));
    assert!(out.stderr.ends_with("…[truncated]"));

    let (_d, small) = runner_for("head -c 100 /dev/zero | tr '\\0' a");
    let out = small.output_limit(10).run("fly", &[]).await.expect("run");
    assert_eq!((out.stdout.as_str(), out.stdout_truncated), ("", true));
    let (_d, fits) = runner_for("head -c 10 /dev/zero | tr '\\0' a");
    let out = fits.output_limit(10).run("fly", &[]).await.expect("run");
    assert_eq!((out.stdout.as_str(), out.stdout_truncated), ("aaaaaaaaaa", false));
}

#[tokio::test]
async fn fly_then_flyctl_on_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    script(dir.path(), "flyctl", "echo from-flyctl");
    let cmd = ProcessCmd::new().search_path(dir.path().as_os_str());
    assert_eq!(cmd.run("fly", &[]).await.expect("run").stdout, "from-flyctl\n");
    script(dir.path(), "fly", "echo from-fly");
    assert_eq!(cmd.run("flyctl", &[]).await.expect("run").stdout, "from-fly\n");

    let empty = tempfile::tempdir().expect("tempdir");
    let err = ProcessCmd::new()
        .search_path(empty.path().as_os_str())
        .run("fly", &[])
        .await
        .expect_err("no CLI");
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(err.to_string().contains("--fly-bin"), "{err}");
}

#[tokio::test]
async fn garbage_is_a_miss_and_no_output_is_ever_logged() {
    let logs = support::logs();
    let (_d, garbage) = runner_for("echo 'Error-ish-GARBAGE-7f3a on stdout'");
    let out = TokenShapeCheck::new(garbage).run("fly", &[]).await.expect("run");
    assert_eq!((out.exit_code, out.stdout.as_str()), (0, ""));
    assert!(out.stderr.contains("do not look like a Fly token"));

    let (_d, good) = runner_for("echo ' FlyV1 fm2_SECRETcafe0001 '");
    let out = TokenShapeCheck::new(good).run("fly", &[]).await.expect("run");
    assert_eq!(out.stdout, "FlyV1 fm2_SECRETcafe0001");

    let text = logs.text();
    assert!(text.contains("does not look like a Fly token"), "{text}");
    assert!(text.contains("command finished"), "debug events are captured: {text}");
    assert!(!text.contains("GARBAGE-7f3a"), "output never logged: {text}");
    assert!(!text.contains("SECRETcafe0001"), "token never logged: {text}");
}
