//! The user-token reader against real files; the environment is always an
//! injected `Env`, never the process's.

mod support;

use std::path::Path;

use atlas_app_server::ConfigFileFn;
use atlas_fly_cli::{Env, FlyConfig, UserTokenSource, CONFIG_SIZE_LIMIT};

fn env_for(dir: &Path, extra: &[(&str, &str)]) -> Env {
    let mut pairs = vec![("FLY_CONFIG_DIR".to_owned(), dir.display().to_string())];
    pairs.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    Env::from_pairs(pairs)
}

fn read(dir: &Path, extra: &[(&str, &str)]) -> Option<String> {
    FlyConfig::with_env(env_for(dir, extra))
        .read_token()
        .map(|t| t.expose().to_owned())
}

#[test]
fn flyctl_order_access_token_then_api_token_then_file() {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::write(d.path().join("config.yml"), "access_token: fm2_file\n").expect("write");
    let both = [("FLY_ACCESS_TOKEN", "fm2_access"), ("FLY_API_TOKEN", "fm2_api")];
    assert_eq!(read(d.path(), &both).as_deref(), Some("fm2_access"));
    assert_eq!(
        read(d.path(), &[("FLY_API_TOKEN", "fm2_api")]).as_deref(),
        Some("fm2_api")
    );
    let blank = [("FLY_ACCESS_TOKEN", "  "), ("FLY_API_TOKEN", "\"\"")];
    assert_eq!(
        read(d.path(), &blank).as_deref(),
        Some("fm2_file"),
        "blank values fall through"
    );
    assert_eq!(read(d.path(), &[]).as_deref(), Some("fm2_file"));

    let cfg = FlyConfig::with_env(env_for(d.path(), &[("FLY_API_TOKEN", "fm2_api")]));
    assert_eq!(cfg.read().map(|(_, s)| s), Some(UserTokenSource::FlyApiToken));
    let cfg = FlyConfig::with_env(env_for(d.path(), &[]));
    assert_eq!(
        cfg.read().map(|(_, s)| s),
        Some(UserTokenSource::ConfigFile(d.path().join("config.yml")))
    );
}

#[test]
fn home_dot_fly_when_no_config_dir() {
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(home.path().join(".fly")).expect("mkdir");
    std::fs::write(
        home.path().join(".fly/config.yml"),
        "auto_update: false\naccess_token: \"FlyV1 fm2_home\"\n",
    )
    .expect("write");
    let cfg = FlyConfig::with_env(Env::from_pairs([("HOME", home.path().display().to_string())]));
    assert_eq!(cfg.resolved_path(), Some(home.path().join(".fly/config.yml")));
    assert_eq!(
        cfg.read_token().map(|t| t.expose().to_owned()).as_deref(),
        Some("FlyV1 fm2_home")
    );
    assert_eq!(FlyConfig::with_env(Env::empty()).read_token(), None);
}

#[test]
fn a_real_flyctl_config_with_every_known_key() {
    let d = tempfile::tempdir().expect("tempdir");
    let yml = "access_token: fo1_oauth,fm2_lJPECAAAAAAAAV6Q==\n\
               auto_update: true\n\
               disable_managed_builders: false\n\
               last_login: 2025-03-04T05:06:07.123Z\n\
               metrics_token: fm2_metrics\n\
               send_metrics: true\n\
               synthetics_agent: true\n\
               app_secrets_minvers: {my-app: 12}\n\
               wire_guard_state:\n  personal:\n    region: ams\n    peer: {access_token: nope}\n\
               wire_guard_websockets: true\n\
               some_future_key: [1, 2, 3]\n";
    std::fs::write(d.path().join("config.yml"), yml).expect("write");
    assert_eq!(read(d.path(), &[]).as_deref(), Some("fo1_oauth,fm2_lJPECAAAAAAAAV6Q=="));
}

#[test]
fn misses_missing_file_missing_key_empty_value() {
    let d = tempfile::tempdir().expect("tempdir");
    assert_eq!(read(d.path(), &[]), None, "no file");
    for yml in [
        "",
        "send_metrics: true\n",
        "access_token:\n",
        "access_token: ''\n",
        "access_token: '  '\n",
    ] {
        std::fs::write(d.path().join("config.yml"), yml).expect("write");
        assert_eq!(read(d.path(), &[]), None, "{yml:?}");
    }
}

#[test]
fn malformed_yaml_is_a_miss_with_a_warning_and_never_leaks_content() {
    let logs = support::logs();
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        d.path().join("config.yml"),
        "access_token: fm2_LEAKME-cfg\nwire_guard_state: [unclosed\n",
    )
    .expect("write");
    assert_eq!(read(d.path(), &[]), None);
    let text = logs.text();
    assert!(text.contains("not valid YAML (read twice)"), "{text}");
    assert!(!text.contains("LEAKME-cfg"), "{text}");
}

#[test]
fn an_oversized_file_is_not_read() {
    let d = tempfile::tempdir().expect("tempdir");
    let mut yml = String::from("access_token: fm2_big\n");
    while yml.len() as u64 <= CONFIG_SIZE_LIMIT {
        yml.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    std::fs::write(d.path().join("config.yml"), &yml).expect("write");
    assert_eq!(read(d.path(), &[]), None);
    yml.truncate(1000);
    std::fs::write(d.path().join("config.yml"), &yml).expect("write");
    assert_eq!(read(d.path(), &[]).as_deref(), Some("fm2_big"));
}

#[test]
fn explicit_path_and_a_directory_in_its_place() {
    let d = tempfile::tempdir().expect("tempdir");
    let file = d.path().join("other.yml");
    std::fs::write(&file, "access_token: fm2_explicit\n").expect("write");
    let cfg = FlyConfig::with_env(Env::empty()).config_path(&file);
    assert_eq!(
        cfg.read_token().map(|t| t.expose().to_owned()).as_deref(),
        Some("fm2_explicit")
    );
    std::fs::create_dir(d.path().join("config.yml")).expect("mkdir");
    assert_eq!(read(d.path(), &[]), None, "a directory is no config file");
}

/// Runs `read` on a thread of its own; `None` when it has not returned
/// within 10 s (it hangs: the thread is left behind, the test fails).
fn bounded<T: Send + 'static>(read: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(read());
    });
    rx.recv_timeout(std::time::Duration::from_secs(10)).ok()
}

#[test]
fn a_fifo_in_place_of_the_config_file_is_a_miss_and_never_blocks() {
    let logs = support::logs();
    let d = tempfile::tempdir().expect("tempdir");
    let fifo = d.path().join("config.yml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let env = env_for(d.path(), &[]);
    let got = bounded(move || FlyConfig::with_env(env).read_token().map(|t| t.expose().to_owned()));
    assert_eq!(
        got,
        Some(None),
        "no writer ever comes: a plain open() would block forever"
    );
    let text = logs.text();
    assert!(text.contains("not a regular file") && text.contains("a FIFO"), "{text}");
    // The environment still wins over the file, as before.
    let env = env_for(d.path(), &[("FLY_API_TOKEN", "fm2_env")]);
    let got = bounded(move || FlyConfig::with_env(env).read_token().map(|t| t.expose().to_owned()));
    assert_eq!(got, Some(Some("fm2_env".to_owned())));
}

#[test]
fn a_device_in_place_of_the_config_file_is_a_miss() {
    let logs = support::logs();
    let cfg = FlyConfig::with_env(Env::empty()).config_path("/dev/null");
    assert_eq!(bounded(move || cfg.read_token().is_none()), Some(true));
    assert!(logs.text().contains("a device"), "{}", logs.text());
}

#[test]
fn an_access_token_that_is_not_a_yaml_string_is_a_miss_with_a_warning() {
    let logs = support::logs();
    let d = tempfile::tempdir().expect("tempdir");
    for (yml, kind) in [
        ("access_token: true\n", "a boolean"),
        ("access_token: 12345\n", "a number"),
        ("access_token: [fm2_a, fm2_b]\n", "a list"),
    ] {
        std::fs::write(d.path().join("config.yml"), yml).expect("write");
        assert_eq!(read(d.path(), &[]), None, "{yml:?}");
        let text = logs.text();
        assert!(
            text.contains("access_token in the fly config file is not a string") && text.contains(kind),
            "{yml:?}: {text}"
        );
    }
    // Quoted, the same characters are a string.
    std::fs::write(d.path().join("config.yml"), "access_token: '12345'\n").expect("write");
    assert_eq!(read(d.path(), &[]).as_deref(), Some("12345"));
}

#[test]
fn a_string_that_does_not_look_like_a_fly_token_is_used_with_a_warning() {
    let logs = support::logs();
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::write(d.path().join("config.yml"), "access_token: legacy_LEAKME_token\n").expect("write");
    assert_eq!(read(d.path(), &[]).as_deref(), Some("legacy_LEAKME_token"));
    let text = logs.text();
    assert!(
        text.contains("does not look like a Fly token") && text.contains("using it anyway"),
        "{text}"
    );
    assert!(!text.contains("LEAKME"), "{text}");
}
