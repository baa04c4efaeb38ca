//! The web UI: how `ballast::ui` serves `static/` (content types, ETag and
//! 304, the Content-Security-Policy, the app fallback, and never answering
//! under `/v1/`), and the browser test that drives the real `ballast serve`
//! through headless Chromium (`tests/ui/ui.test.mjs`, playwright-core).

use rocket::http::{Header, Status};
use rocket::local::blocking::Client;
use rocket::serde::json::{Json, Value, json};
use rocket::{Request, catch, catchers, get, routes};

#[catch(404)]
fn json_not_found(_: &Request<'_>) -> Json<Value> {
    Json(json!({"faultcode": "Client", "faultstring": "not found", "debuginfo": null}))
}

#[get("/v1/loadbalancers")]
fn api_list() -> Json<Value> {
    Json(json!([]))
}

/// A Rocket with only the UI routes, a stand-in API route and a JSON 404
/// catcher, as the app mounts them.
fn client() -> Client {
    let rocket = rocket::custom(rocket::Config::debug_default())
        .mount("/", ballast::ui::routes())
        .mount("/", routes![api_list])
        .register("/", catchers![json_not_found]);
    Client::tracked(rocket).expect("rocket with the UI routes ignites")
}

#[test]
fn index_is_html_with_a_strict_content_security_policy() {
    let client = client();
    let response = client.get("/").dispatch();
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(
        response.headers().get_one("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let csp = response
        .headers()
        .get_one("Content-Security-Policy")
        .expect("HTML carries a CSP");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(
        response.headers().get_one("Cache-Control"),
        Some("no-cache")
    );
    let body = response.into_string().expect("body");
    assert!(body.contains("<script type=\"module\" src=\"/app.js\">"));
}

#[test]
fn assets_have_their_content_types_and_no_csp() {
    let client = client();
    for (path, want) in [
        ("/app.js", "javascript"),
        ("/style.css", "text/css"),
        ("/favicon.svg", "image/svg+xml"),
    ] {
        let response = client.get(path).dispatch();
        assert_eq!(response.status(), Status::Ok, "{path}");
        let content_type = response
            .headers()
            .get_one("Content-Type")
            .unwrap_or_default()
            .to_owned();
        assert!(content_type.contains(want), "{path}: {content_type}");
        assert!(
            response
                .headers()
                .get_one("Content-Security-Policy")
                .is_none()
        );
        assert!(response.headers().get_one("ETag").is_some(), "{path}");
    }
}

#[test]
fn a_matching_if_none_match_answers_304_without_a_body() {
    let client = client();
    let first = client.get("/style.css").dispatch();
    let etag = first.headers().get_one("ETag").expect("an ETag").to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() == 66,
        "{etag}"
    );
    let again = client
        .get("/style.css")
        .header(Header::new("If-None-Match", etag.clone()))
        .dispatch();
    assert_eq!(again.status(), Status::NotModified);
    assert_eq!(again.headers().get_one("ETag"), Some(etag.as_str()));
    assert!(again.into_bytes().unwrap_or_default().is_empty());

    let stale = client
        .get("/style.css")
        .header(Header::new("If-None-Match", "\"0000\""))
        .dispatch();
    assert_eq!(stale.status(), Status::Ok);
}

#[test]
fn unknown_non_api_paths_serve_the_app() {
    let client = client();
    for path in ["/lb/123", "/some/deep/path", "/.hidden", "/missing.js"] {
        let response = client.get(path).dispatch();
        assert_eq!(response.status(), Status::Ok, "{path}");
        let body = response.into_string().unwrap_or_default();
        assert!(body.contains("/app.js"), "{path} serves index.html");
    }
}

#[test]
fn unknown_api_paths_stay_json_404s() {
    let client = client();
    for path in [
        "/v1/nope",
        "/v1/loadbalancers/x/y/z",
        "/healthz/x",
        "/metrics/x",
        "/v1",
        "/v3/nope",
    ] {
        let response = client.get(path).dispatch();
        assert_eq!(response.status(), Status::NotFound, "{path}");
        assert_eq!(
            response.headers().get_one("Content-Type"),
            Some("application/json"),
            "{path}"
        );
    }
    let listed = client.get("/v1/loadbalancers").dispatch();
    assert_eq!(listed.status(), Status::Ok);
    assert_eq!(listed.into_string().as_deref(), Some("[]"));
}

#[test]
fn the_whole_ui_stays_well_under_200_kib() {
    /// Bytes of the files under `dir`, sub-folders (vendor/) included.
    fn size(dir: &std::path::Path) -> u64 {
        std::fs::read_dir(dir)
            .expect("a readable folder")
            .map(|entry| {
                let entry = entry.expect("a readable entry");
                let meta = entry.metadata().expect("metadata");
                if meta.is_dir() {
                    size(&entry.path())
                } else {
                    meta.len()
                }
            })
            .sum()
    }
    let total = size(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static"));
    assert!(total < 200 * 1024, "static/ is {total} bytes");
}

mod common;

/// Runs the browser scenario `script` of `tests/ui/` against `ballast`
/// (with `env` set) and asserts it passed and took the `screenshots` (of
/// `target/ui-screenshots/`).
fn run_scenario(
    ballast: &common::Ballast,
    script: &str,
    env: &[(&str, &str)],
    screenshots: &[&str],
) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let suite = root.join("tests").join("ui");
    if !suite.join("node_modules").join("playwright-core").is_dir() {
        // First run on a fresh checkout: install the locked playwright-core
        // (it downloads no browser; Debian's chromium is used).
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&suite)
            .status()
            .expect("FAIL: cannot run `npm` (install Node.js 18 or later)");
        assert!(
            status.success(),
            "FAIL: `npm ci` in {} failed",
            suite.display()
        );
    }
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "FAIL: the browser test needs Debian's chromium: apt-get install -y chromium"
    );
    let base = format!("http://{}", ballast.api);
    let shots = root.join("target").join("ui-screenshots");
    let output = std::process::Command::new("node")
        .arg(suite.join(script))
        .arg(&base)
        .arg(&shots)
        .envs(env.iter().copied())
        .current_dir(root)
        .output()
        .expect("FAIL: cannot run `node` (install Node.js 18 or later)");
    let log = ballast.log.lock().map(|l| l.join("\n")).unwrap_or_default();
    assert!(
        output.status.success(),
        "the browser test {script} failed ({}).\n--- node stdout ---\n{}\n--- node stderr ---\n{}\n--- ballast log ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        log
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("all steps passed"), "{stdout}");
    for name in screenshots {
        let png = shots.join(format!("{name}.png"));
        assert!(png.is_file(), "screenshot {} was taken", png.display());
    }
}

/// The browser test: the real `ballast serve` on a free port with a temp data
/// dir, driven through its web UI by headless Chromium (playwright-core).
/// Screenshots land in `target/ui-screenshots/`.
#[test]
fn the_web_ui_manages_a_load_balancer_in_a_real_browser() {
    // Traffic samples every second, so the graphs move within the test.
    let tmp = tempfile::tempdir().expect("temp dir");
    let options = common::Options {
        extra_toml: "\n[housekeeping]\ntraffic_sample_interval_secs = 1\n".into(),
        ..common::Options::default()
    };
    let ballast = common::Ballast::start_in(tmp.path(), &common::fresh_cidr(), options);
    run_scenario(
        &ballast,
        "ui.test.mjs",
        &[],
        &[
            "01-list-empty",
            "02-list",
            "04-lb-page",
            "06-lb-page-phone",
            "09-graphs",
            "10-member-cause",
        ],
    );
}

/// The sign-in scenario: Ballast in `[auth] mode = "local"` after `ballast
/// bootstrap`, with a member of another project; the browser signs in,
/// creates a load balancer, is sent back to sign-in when its token is
/// revoked, signs out (the token then answers 401) and switches an admin's
/// project view (`tests/ui/signin.test.mjs`).
#[test]
fn the_web_ui_signs_in_signs_out_and_returns_to_sign_in_on_a_401() {
    let (ballast, _tmp) = common::identity::start_local("");
    common::identity::add_user(&ballast, "alice", "alice-pw", "team-web", "member");
    run_scenario(
        &ballast,
        "signin.test.mjs",
        &[
            ("UI_TEST_ADMIN", "admin:admin-pw:admin"),
            ("UI_TEST_MEMBER", "alice:alice-pw:team-web"),
        ],
        &[
            "11-signin",
            "12-signed-in",
            "13-session-ended",
            "14-admin-project-view",
            "15-signed-in-phone",
        ],
    );
}
