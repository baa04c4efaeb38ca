//! The Debian package: `cargo deb` builds it and it holds the binary, the
//! unit, the commented config (a conffile) and the maintainer scripts.
//! `packaging/check-deb.sh` does the checking; this runs it on the binary
//! the tests already built (so no release build is needed here).

use std::path::Path;
use std::process::Command;

fn ensure_cargo_deb() {
    let have = Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        // First run on a fresh machine: build the packager from crates.io.
        let status = Command::new("cargo")
            .args(["install", "cargo-deb", "--locked", "--version", "3.8.0"])
            .status()
            .expect("FAIL: cannot run cargo install");
        assert!(status.success(), "FAIL: cargo install cargo-deb failed");
    }
}

#[test]
fn debian_package_holds_the_binary_unit_config_and_maintainer_scripts() {
    ensure_cargo_deb();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The integration tests' binary is the one packaged (`--profile dev`).
    assert!(Path::new(env!("CARGO_BIN_EXE_ballast")).exists());
    let out_dir = tempfile::tempdir().unwrap();
    let deb = out_dir.path().join("ballast.deb");
    let output = Command::new("sh")
        .arg(root.join("packaging/check-deb.sh"))
        .args(["--profile", "dev", "--no-build", "--output"])
        .arg(&deb)
        .current_dir(root)
        .output()
        .expect("run check-deb.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "check-deb failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("check-deb: ok"), "{stdout}\n{stderr}");
    let listing = Command::new("dpkg-deb")
        .arg("-c")
        .arg(&deb)
        .output()
        .unwrap();
    let files = String::from_utf8_lossy(&listing.stdout);
    for path in [
        "./usr/bin/ballast",
        "./etc/ballast/ballast.toml",
        "ballast.service",
        "./usr/share/doc/ballast/README.md",
    ] {
        assert!(files.contains(path), "{path} missing from:\n{files}");
    }
}
