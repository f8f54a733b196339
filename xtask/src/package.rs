//! The packaging check: every publishable crate packs into a `.crate` that
//! builds on its own (`cargo package` verifies it, with the unpublished
//! atlas crates it depends on served from a local overlay registry) and
//! carries the licence files its `license = "MIT OR Apache-2.0"` promises,
//! plus its README when its manifest names one.

use std::path::Path;

use serde_json::Value;

use crate::cmd;

/// Files every `.crate` must hold.
const LICENCES: &[&str] = &["LICENSE-MIT", "LICENSE-APACHE"];

/// A workspace crate that can be published.
#[derive(Debug, PartialEq, Eq)]
pub struct Library {
    /// Its package name.
    pub name: String,
    /// The README its manifest names, relative to the crate.
    pub readme: Option<String>,
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

/// Packages (and verifies) every publishable crate, then checks what each
/// `.crate` holds. `Err` says what failed.
pub fn check() -> Result<(), String> {
    let meta = metadata()?;
    let libs = libraries(&meta)?;
    let excluded = unpublishable(&meta)?;
    let package = |offline: bool| {
        let mut c = cmd::cargo();
        c.args(["package", "--workspace", "--allow-dirty"]);
        for name in &excluded {
            c.args(["--exclude", name]);
        }
        if offline {
            c.arg("--offline");
        }
        c
    };
    // The crates.io index as this machine has it is enough (every
    // dependency is in the workspace's lock file, fetched by the build);
    // only when that fails is the index asked again.
    if let Err(e) = cmd::run(&mut package(true)) {
        eprintln!("package: offline packaging failed ({e}); trying again with the network");
        cmd::run(&mut package(false))?;
    }
    let mut bad = Vec::new();
    for lib in &libs {
        let out = cmd::cargo()
            .args(["package", "--list", "--allow-dirty", "--offline", "-p", &lib.name])
            .output()
            .map_err(|e| format!("cannot run cargo package --list: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cargo package --list -p {} failed: {}",
                lib.name,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let listing = String::from_utf8_lossy(&out.stdout);
        bad.extend(missing(lib, &listing));
    }
    if bad.is_empty() {
        eprintln!(
            "package: {} crates packed and built from their .crate: {}",
            libs.len(),
            libs.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
        );
        Ok(())
    } else {
        Err(bad.join("; "))
    }
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
            {"name": "atlas-supervisor", "publish": null,
             "manifest_path": "/w/crates/supervisor/Cargo.toml",
             "readme": "/w/crates/supervisor/README.md"},
            {"name": "atlas-cache", "publish": null, "manifest_path": "/w/crates/cache/Cargo.toml", "readme": null},
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
    fn the_readme_is_named_relative_to_its_crate() {
        let libs = libraries(&meta()).expect("packages");
        assert_eq!(libs[0].readme.as_deref(), Some("README.md"));
        assert_eq!(libs[1].readme, None);
    }

    #[test]
    fn a_crate_without_its_licences_or_readme_fails() {
        let lib = Library {
            name: "atlas-supervisor".into(),
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
