//! The packaging check: every publishable crate packs into a `.crate`
//! (`cargo package --workspace`, which resolves the unpublished atlas
//! crates through a local overlay registry) that carries the licence files
//! its `license = "MIT OR Apache-2.0"` promises, plus its README when its
//! manifest names one, and the packed sources build on their own.
//!
//! The build is ours, not `cargo package`'s verification: cargo unpacks
//! the overlay registry's crates under `$CARGO_HOME/registry/src` once per
//! name and version and never refreshes them, so after any change to a
//! library's API its dependents were verified against the stale copy (and
//! failed). Here each `.crate` is unpacked under `<target dir>/package-check/`
//! and all of them are built together, each atlas dependency patched to its
//! unpacked sibling, with the workspace's lock file.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cmd;

/// Files every `.crate` must hold.
const LICENCES: &[&str] = &["LICENSE-MIT", "LICENSE-APACHE"];

/// A workspace crate that can be published.
#[derive(Debug, PartialEq, Eq)]
pub struct Library {
    /// Its package name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The README its manifest names, relative to the crate.
    pub readme: Option<String>,
}

impl Library {
    /// `name-version`: its `.crate`'s stem and the directory it unpacks to.
    pub fn dir(&self) -> String {
        format!("{}-{}", self.name, self.version)
    }
}

/// `cargo xtask package`: the check alone.
pub fn main(args: &[String]) -> std::process::ExitCode {
    if !args.is_empty() {
        eprintln!("usage: cargo xtask package");
        return std::process::ExitCode::from(64);
    }
    match check() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("package: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Packs every publishable crate, checks what each `.crate` holds and
/// builds the packed sources. `Err` says what failed.
pub fn check() -> Result<(), String> {
    let meta = metadata()?;
    let libs = libraries(&meta)?;
    let excluded = unpublishable(&meta)?;
    let mut package = cmd::cargo();
    package.args(["package", "--workspace", "--allow-dirty", "--no-verify"]);
    for name in &excluded {
        package.args(["--exclude", name]);
    }
    offline_first(package)?;
    // Where cargo put the `.crate`s: `target/`, or `CARGO_TARGET_DIR` (or
    // `build.target-dir`) when set, as cargo metadata says.
    let target = target_directory(&meta)?;
    // Its `target/` stays from run to run (the build is incremental); the
    // unpacked crates are fresh each time.
    let check_dir = target.join("package-check");
    std::fs::create_dir_all(&check_dir).map_err(|e| format!("cannot create {}: {e}", check_dir.display()))?;
    let mut bad = Vec::new();
    for lib in &libs {
        let unpacked = check_dir.join(lib.dir());
        if unpacked.exists() {
            std::fs::remove_dir_all(&unpacked).map_err(|e| format!("cannot empty {}: {e}", unpacked.display()))?;
        }
        let krate = target.join("package").join(format!("{}.crate", lib.dir()));
        let mut tar = std::process::Command::new("tar");
        tar.arg("xzf").arg(&krate).arg("-C").arg(&check_dir);
        cmd::run(&mut tar)?;
        bad.extend(missing(lib, &files_under(&check_dir.join(lib.dir()))));
    }
    if !bad.is_empty() {
        return Err(bad.join("; "));
    }
    std::fs::write(check_dir.join("Cargo.toml"), workspace_manifest(&libs))
        .map_err(|e| format!("cannot write the check workspace: {e}"))?;
    std::fs::copy("Cargo.lock", check_dir.join("Cargo.lock")).map_err(|e| format!("cannot copy Cargo.lock: {e}"))?;
    let mut build = cmd::cargo();
    build
        .args(["build", "--workspace", "--manifest-path"])
        .arg(check_dir.join("Cargo.toml"));
    offline_first(build)?;
    eprintln!(
        "package: {} crates packed, licences in each, built from their .crate: {}",
        libs.len(),
        libs.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

/// Runs a cargo command offline first: the crates.io index as this machine
/// has it is enough (every dependency is in the workspace's lock file,
/// fetched by the build); only when that fails is the index asked again.
fn offline_first(mut c: std::process::Command) -> Result<(), String> {
    let mut offline = std::process::Command::new(c.get_program());
    offline.args(c.get_args()).arg("--offline");
    if let Err(e) = cmd::run(&mut offline) {
        eprintln!("package: offline, {e}; trying again with the network");
        cmd::run(&mut c)?;
    }
    Ok(())
}

/// A workspace of the unpacked crates, each atlas dependency patched to
/// its unpacked sibling (the packed manifests name them by version only).
pub fn workspace_manifest(libs: &[Library]) -> String {
    let mut s = String::from("# Written by cargo xtask package: the packed crates, built together.\n");
    s.push_str("[workspace]\nresolver = \"2\"\nmembers = [\n");
    for lib in libs {
        s.push_str(&format!("    \"{}\",\n", lib.dir()));
    }
    s.push_str("]\n\n[patch.crates-io]\n");
    for lib in libs {
        s.push_str(&format!("{} = {{ path = \"{}\" }}\n", lib.name, lib.dir()));
    }
    s
}

/// Every file under `dir`, relative to it, one a line.
fn files_under(dir: &Path) -> String {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out.join("\n")
}

fn metadata() -> Result<Value, String> {
    let out = cmd::cargo()
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("bad cargo metadata: {e}"))
}

/// The workspace's target directory, as cargo resolves it.
fn target_directory(meta: &Value) -> Result<PathBuf, String> {
    meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| "cargo metadata names no target_directory".to_owned())
}

/// `publish = false` shows in `cargo metadata` as `"publish": []`.
fn publishable(pkg: &Value) -> bool {
    !pkg["publish"].as_array().is_some_and(Vec::is_empty)
}

/// The workspace's publishable crates, in `cargo metadata` order.
pub fn libraries(meta: &Value) -> Result<Vec<Library>, String> {
    let packages = meta["packages"].as_array().ok_or("cargo metadata: no packages")?;
    Ok(packages
        .iter()
        .filter(|p| publishable(p))
        .map(|p| Library {
            name: p["name"].as_str().unwrap_or_default().to_owned(),
            version: p["version"].as_str().unwrap_or_default().to_owned(),
            readme: p["readme"].as_str().map(|r| relative_to_crate(p, r)),
        })
        .collect())
}

/// `cargo metadata` gives the README as an absolute path.
fn relative_to_crate(pkg: &Value, path: &str) -> String {
    let dir = pkg["manifest_path"].as_str().and_then(|m| Path::new(m).parent());
    dir.and_then(|d| Path::new(path).strip_prefix(d).ok())
        .unwrap_or(Path::new(path))
        .to_string_lossy()
        .into_owned()
}

fn unpublishable(meta: &Value) -> Result<Vec<String>, String> {
    let packages = meta["packages"].as_array().ok_or("cargo metadata: no packages")?;
    Ok(packages
        .iter()
        .filter(|p| !publishable(p))
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect())
}

/// What `lib`'s `.crate` (its `cargo package --list`) lacks.
pub fn missing(lib: &Library, listing: &str) -> Vec<String> {
    let files: Vec<&str> = listing.lines().map(str::trim).collect();
    LICENCES
        .iter()
        .copied()
        .chain(lib.readme.as_deref())
        .filter(|want| !files.contains(want))
        .map(|want| format!("{}: its .crate has no {want}", lib.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Value {
        serde_json::json!({"packages": [
            {"name": "atlas-supervisor", "version": "0.1.0", "publish": null,
             "manifest_path": "/w/crates/supervisor/Cargo.toml",
             "readme": "/w/crates/supervisor/README.md"},
            {"name": "atlas-cache", "version": "0.1.0", "publish": null, "manifest_path": "/w/crates/cache/Cargo.toml", "readme": null},
            {"name": "xtask", "publish": [], "manifest_path": "/w/xtask/Cargo.toml", "readme": null},
            {"name": "atlas-bench", "publish": [], "manifest_path": "/w/bench/Cargo.toml", "readme": null},
        ]})
    }

    #[test]
    fn publish_false_crates_are_not_packaged() {
        let names: Vec<String> = libraries(&meta())
            .expect("packages")
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert_eq!(names, ["atlas-supervisor", "atlas-cache"]);
        assert_eq!(unpublishable(&meta()).expect("packages"), ["xtask", "atlas-bench"]);
    }

    #[test]
    fn the_crates_are_found_where_cargo_says_its_target_directory_is() {
        let mut meta = meta();
        assert!(target_directory(&meta).is_err(), "no guess when cargo names none");
        meta["target_directory"] = serde_json::json!("/elsewhere/target");
        assert_eq!(target_directory(&meta), Ok(PathBuf::from("/elsewhere/target")));
    }

    #[test]
    fn the_readme_is_named_relative_to_its_crate() {
        let libs = libraries(&meta()).expect("packages");
        assert_eq!(libs[0].readme.as_deref(), Some("README.md"));
        assert_eq!(libs[1].readme, None);
    }

    #[test]
    fn the_check_workspace_builds_each_packed_crate_against_its_packed_siblings() {
        let libs = libraries(&meta()).expect("packages");
        assert_eq!(libs[0].dir(), "atlas-supervisor-0.1.0");
        let manifest = workspace_manifest(&libs);
        assert!(manifest.contains("members = [\n    \"atlas-supervisor-0.1.0\",\n    \"atlas-cache-0.1.0\",\n]"));
        assert!(manifest.contains("[patch.crates-io]\natlas-supervisor = { path = \"atlas-supervisor-0.1.0\" }\n"));
        assert!(!manifest.contains("xtask-") && !manifest.contains("atlas-bench"));
    }

    #[test]
    fn a_crate_without_its_licences_or_readme_fails() {
        let lib = Library {
            name: "atlas-supervisor".into(),
            version: "0.1.0".into(),
            readme: Some("README.md".into()),
        };
        let full = "Cargo.toml\nLICENSE-APACHE\nLICENSE-MIT\nREADME.md\nsrc/lib.rs\n";
        assert!(missing(&lib, full).is_empty());
        let bare = "Cargo.toml\nLICENSE-MIT\nsrc/lib.rs\n";
        assert_eq!(
            missing(&lib, bare),
            [
                "atlas-supervisor: its .crate has no LICENSE-APACHE",
                "atlas-supervisor: its .crate has no README.md"
            ]
        );
    }
}
