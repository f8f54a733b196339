//! The crates' layering (DESIGN.md): nothing points up or sideways.
//!
//! ```text
//! fly-cli ──> app-server ──> supervisor
//!                      ├──> registry ──> supervisor
//!                      └──> cache ─────> supervisor
//! ```

use serde_json::Value;

use crate::cmd;

/// The workspace crates each crate may depend on (any kind, dev included);
/// crates not listed are not restricted.
const ALLOWED: &[(&str, &[&str])] = &[
    // A user can depend on the engine alone.
    ("atlas-supervisor", &[]),
    ("atlas-registry", &["atlas-supervisor"]),
    ("atlas-cache", &["atlas-supervisor"]),
    (
        "atlas-app-server",
        &["atlas-supervisor", "atlas-registry", "atlas-cache"],
    ),
];

/// Checks the layering with `cargo metadata`; `Err` lists every violation.
pub fn check() -> Result<(), String> {
    let mut c = cmd::cargo();
    c.args(["metadata", "--format-version", "1", "--no-deps"]);
    let out = c.output().map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let meta: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("bad cargo metadata: {e}"))?;
    violations(&meta)
}

fn violations(meta: &Value) -> Result<(), String> {
    let packages = meta["packages"].as_array().ok_or("cargo metadata: no packages")?;
    let members: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut bad = Vec::new();
    for (name, allowed) in ALLOWED {
        let Some(pkg) = packages.iter().find(|p| p["name"].as_str() == Some(name)) else {
            bad.push(format!("{name}: not in the workspace"));
            continue;
        };
        for dep in pkg["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            let is_member = members.contains(&dep_name);
            if is_member && dep_name != *name && !allowed.contains(&dep_name) {
                let kind = dep["kind"].as_str().unwrap_or("normal");
                bad.push(format!("{name} depends on {dep_name} ({kind})"));
            }
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!("crate layering broken:\n  {}", bad.join("\n  ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same check as `cargo xtask test`, so plain `cargo test` runs it.
    #[test]
    fn workspace_layering_holds() {
        if let Err(e) = check() {
            panic!("{e}");
        }
    }

    #[test]
    fn an_upward_dependency_is_reported() {
        let meta = serde_json::json!({"packages": [
            {"name": "atlas-supervisor", "dependencies": []},
            {"name": "atlas-registry", "dependencies": [{"name": "atlas-cache", "kind": null}]},
            {"name": "atlas-cache", "dependencies": [{"name": "tokio", "kind": null}]},
            {"name": "atlas-app-server", "dependencies": [{"name": "atlas-fly-cli", "kind": "dev"}]},
            {"name": "atlas-fly-cli", "dependencies": [{"name": "atlas-app-server", "kind": null}]},
        ]});
        let err = violations(&meta).expect_err("violations");
        assert!(err.contains("atlas-registry depends on atlas-cache"), "{err}");
        assert!(err.contains("atlas-app-server depends on atlas-fly-cli (dev)"), "{err}");
        assert!(!err.contains("tokio"), "{err}");
    }
}
