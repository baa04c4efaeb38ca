//! The `ballast` binary as an operator meets it: a taken port, a closed
//! stdout, a misspelt configuration key, and a relative `data_dir` used from
//! other working directories. Each test runs the real binary.

mod common;

use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Output, Stdio};

use common::{
    Ballast, Options, ballast_cli, ballast_command, fresh_cidr, serve_expecting_failure,
    write_config,
};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `ballast ARGS` with `stdout` a pipe whose reading end is already closed,
/// as in `ballast check | head -1` once `head` has its line: every write
/// fails with EPIPE.
fn with_closed_stdout(args: &[&OsStr]) -> Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    ballast_command()
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run ballast")
}

#[test]
fn a_taken_api_port_stops_serve_before_anything_is_ready_naming_the_address() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = write_config(tmp.path(), &fresh_cidr(), &Options::default());
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port to take");
    let addr = taken.local_addr().expect("local addr");

    let port = addr.port().to_string();
    let (status, stderr) = serve_expecting_failure(&config, &[("BALLAST_API__PORT", &port)]);

    assert_eq!(status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!("ballast: cannot listen on {addr}: address already in use"),
        "{stderr}"
    );
    for early in [
        "app: ready",
        "API listening",
        "store open",
        "WARN",
        "panicked",
    ] {
        assert!(!stderr.contains(early), "{early:?} in: {stderr}");
    }
    assert!(
        !tmp.path().join("data").exists(),
        "nothing is created when the port is taken"
    );
}

#[test]
fn check_and_help_end_quietly_when_stdout_closes_early() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = write_config(tmp.path(), &fresh_cidr(), &Options::default());
    let migrated = ballast_cli(&["migrate".as_ref(), "--config".as_ref(), config.as_os_str()]);
    assert!(migrated.status.success(), "{migrated:?}");

    let check: [&OsStr; 3] = ["check".as_ref(), "--config".as_ref(), config.as_os_str()];
    let runs: [&[&OsStr]; 4] = [
        &check,
        &["--help".as_ref()],
        &["serve".as_ref(), "--help".as_ref()],
        &["--version".as_ref()],
    ];
    for args in runs {
        let out = with_closed_stdout(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr), "", "{args:?} wrote to stderr");
    }
}

#[test]
fn a_misspelt_key_is_named_as_written_with_the_closest_known_key() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = write_config(tmp.path(), &fresh_cidr(), &Options::default());
    let good = std::fs::read_to_string(&config).expect("read config");
    let check = |env: &[(&str, &str)]| {
        ballast_command()
            .args(["check", "--config"])
            .arg(&config)
            .envs(env.iter().copied())
            .output()
            .expect("run ballast check")
    };
    let assert_refused = |out: &Output, want: &str| {
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stderr),
            format!("ballast: configuration: {want}\n")
        );
        assert!(out.stdout.is_empty(), "no report for a bad config");
    };

    std::fs::write(&config, good.replace("port = 0\n", "prot = 0\n")).expect("write");
    assert_refused(
        &check(&[]),
        &format!(
            "{}: unknown key `[api] prot`; did you mean `port`?",
            config.display()
        ),
    );
    std::fs::write(&config, good.replace("loopback", "loopbak")).expect("write");
    assert_refused(
        &check(&[]),
        &format!(
            "{}: `[[networks]] #1 mode`: `loopbak` is not one of `loopback`, `interface`; \
             did you mean `loopback`?",
            config.display()
        ),
    );

    std::fs::write(&config, &good).expect("write");
    assert_refused(
        &check(&[("BALLAST_API__PROT", "9876")]),
        "unknown environment variable BALLAST_API__PROT; did you mean BALLAST_API__PORT?",
    );
    assert_refused(
        &check(&[("BALLAST_API__PORT", "http")]),
        "BALLAST_API__PORT: invalid type: found string \"http\", expected u16",
    );
    assert_refused(
        &check(&[("BALLAST_API__REQUEST_TIMEOUT_SECS", "0")]),
        "BALLAST_API__REQUEST_TIMEOUT_SECS: must be at least 1",
    );
    assert!(
        !tmp.path().join("data").exists(),
        "a refused config creates nothing"
    );
}

/// `data_dir = "state"` in `DIR/etc/ballast.toml`, and two unrelated
/// working directories to run commands from.
struct RelativeSetup {
    _tmp: tempfile::TempDir,
    etc: std::path::PathBuf,
    config: std::path::PathBuf,
    elsewhere: [std::path::PathBuf; 2],
}

fn relative_setup() -> RelativeSetup {
    let tmp = tempfile::tempdir().expect("temp dir");
    let etc = tmp.path().join("etc");
    let elsewhere = [tmp.path().join("one"), tmp.path().join("two")];
    for dir in [&etc, &elsewhere[0], &elsewhere[1]] {
        std::fs::create_dir(dir).expect("mkdir");
    }
    let options = Options {
        data_dir: Some("state".into()),
        ..Options::default()
    };
    let config = write_config(&etc, &fresh_cidr(), &options);
    RelativeSetup {
        _tmp: tmp,
        etc,
        config,
        elsewhere,
    }
}

fn run_in(cwd: &Path, args: &[&OsStr]) -> Output {
    ballast_command()
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("run ballast")
}

#[test]
fn migrate_check_and_backup_run_from_other_directories_use_the_data_dir_beside_the_config() {
    let s = relative_setup();
    let state = s.etc.join("state");
    let db = state.join("ballast.sqlite3");
    let config = s.config.as_os_str();

    let out = run_in(
        &s.elsewhere[0],
        &["migrate".as_ref(), "--config".as_ref(), config],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("database {} is up to date", db.display())),
        "{}",
        text(&out.stderr)
    );
    assert!(db.exists(), "migrate wrote beside the config");

    let out = run_in(
        &s.elsewhere[1],
        &["check".as_ref(), "--config".as_ref(), config],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with(&format!("config: ok ({})\n", s.config.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("data directory: {}\n", state.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("database: {}\nintegrity: ok\n", db.display())),
        "{stdout}"
    );

    let copy = s.elsewhere[1].join("copy.sqlite3");
    let out = run_in(
        &s.elsewhere[1],
        &[
            "backup".as_ref(),
            "--config".as_ref(),
            config,
            "copy.sqlite3".as_ref(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(&format!("backup of {} written to", db.display())),
        "{}",
        text(&out.stdout)
    );
    assert!(
        copy.exists(),
        "the backup FILE is relative to the working directory"
    );

    for dir in &s.elsewhere {
        let entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name())
            .filter(|name| name != "copy.sqlite3")
            .collect();
        assert!(entries.is_empty(), "{} got {entries:?}", dir.display());
    }
}

#[test]
fn serve_logs_the_ui_url_and_the_absolute_data_dir_and_no_warning_on_start() {
    let s = relative_setup();
    let options = Options {
        data_dir: Some("state".into()),
        cwd: Some(s.elsewhere[0].clone()),
        ..Options::default()
    };
    // Rewrites the same config, now with the child's own working directory.
    let mut b = Ballast::start_in(&s.etc, &fresh_cidr(), options);
    let log = b.log.lock().expect("log").clone();
    let state = s.etc.join("state");
    let has = |needle: &str| log.iter().any(|line| line.contains(needle));
    assert!(
        has(&format!("store open data_dir={} ", state.display())),
        "{log:#?}"
    );
    assert!(has(&format!("web UI url=http://{}/", b.api)), "{log:#?}");
    let ready = log
        .iter()
        .position(|line| line.ends_with(" ready"))
        .expect("a ready line");
    let warnings: Vec<_> = log[..ready]
        .iter()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
    assert!(b.terminate().expect("running").success());
    assert!(
        std::fs::read_dir(&s.elsewhere[0])
            .expect("read dir")
            .next()
            .is_none()
    );
}

#[test]
fn the_readme_names_every_subcommand_of_the_help() {
    let out = ballast_cli(&["--help".as_ref()]);
    let help = text(&out.stdout);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 4, "{help}");
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read README");
    for command in commands {
        assert!(
            readme.contains(&format!("`ballast {command}")),
            "README does not show `ballast {command}`"
        );
    }
}
