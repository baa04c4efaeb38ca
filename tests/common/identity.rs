//! Helpers for the identity tests: a Ballast in `[auth] mode = "local"`, the
//! identity commands of the real binary, Keystone logins and calls that
//! carry a token, and the database's rows as proof that nothing changed.

use std::process::Command;

use serde_json::{Value, json};

use super::{Ballast, Options, fresh_cidr, http_raw};

/// Start Ballast in `local` mode (plus `extra` lines of `[auth]`) and
/// bootstrap `admin`/`admin` with password `admin-pw`.
pub fn start_local(extra_auth: &str) -> (Ballast, tempfile::TempDir) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let b = Ballast::start_in(
        tmp.path(),
        &fresh_cidr(),
        Options {
            extra_toml: format!("\n[auth]\nmode = \"local\"\n{extra_auth}\n"),
            ..Options::default()
        },
    );
    bootstrap(&b, "admin", "admin", "admin-pw");
    (b, tmp)
}

/// Run `ballast ARGS --config <the instance's config>`; its stdout, after
/// asserting success.
pub fn cli(b: &Ballast, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(args)
        .arg("--config")
        .arg(b.config_path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run ballast");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .expect("write stdin");
    drop(input);
    let out = child.wait_with_output().expect("wait ballast");
    assert!(
        out.status.success(),
        "ballast {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `ballast bootstrap` with the password on standard input.
pub fn bootstrap(b: &Ballast, user: &str, project: &str, password: &str) -> String {
    cli(
        b,
        &[
            "bootstrap",
            "--username",
            user,
            "--project",
            project,
            "--password-file",
            "-",
        ],
        Some(password),
    )
}

/// `ballast project add NAME` and `ballast user add USER --project NAME
/// --role ROLE` with `password`.
pub fn add_user(b: &Ballast, user: &str, password: &str, project: &str, role: &str) {
    let projects = cli(b, &["project", "list"], None);
    if !projects
        .lines()
        .any(|l| l.split('\t').nth(1) == Some(project))
    {
        cli(b, &["project", "add", project], None);
    }
    cli(
        b,
        &[
            "user",
            "add",
            user,
            "--project",
            project,
            "--role",
            role,
            "--password-file",
            "-",
        ],
        Some(password),
    );
}

/// `ballast app-credential create` of `user` on `project`: its (id, secret).
pub fn app_credential(b: &Ballast, user: &str, project: &str, name: &str) -> (String, String) {
    let out = cli(
        b,
        &[
            "app-credential",
            "create",
            "--user",
            user,
            "--project",
            project,
            "--name",
            name,
        ],
        None,
    );
    let field = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("{k} in {out}"))
            .trim()
            .to_string()
    };
    (field("id:"), field("secret:"))
}

/// A Keystone password login body scoped to `project` (by name).
pub fn password_auth(user: &str, password: &str, project: &str) -> Value {
    json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}
    }})
}

/// POST /v3/auth/tokens: the status, the token (`X-Subject-Token`) and the
/// body.
pub fn login_with(b: &Ballast, body: &Value) -> (u16, Option<String>, Value) {
    let (status, head, text) =
        super::api::http_with_head("POST", &b.url("/v3/auth/tokens"), Some(&body.to_string()));
    let token = head
        .lines()
        .find_map(|l| l.strip_prefix("x-subject-token:"))
        .map(|t| t.trim().to_string());
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, token, body)
}

/// A token of `user` on `project`, asserting the login succeeds.
pub fn login(b: &Ballast, user: &str, password: &str, project: &str) -> String {
    let (s, token, body) = login_with(b, &password_auth(user, password, project));
    assert_eq!(s, 201, "login {user}: {body}");
    token.expect("X-Subject-Token")
}

/// One request with `X-Auth-Token: token` (none when None) and extra
/// headers; status and JSON body (Null when empty).
pub fn call_with(
    b: &Ballast,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    if let Some(t) = token {
        headers.push(("X-Auth-Token", t));
    }
    let body = body.map(|b| b.to_string());
    let (s, text) = http_raw(
        method,
        &b.url(path),
        body.as_deref().map(str::as_bytes),
        &headers,
    );
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (s, v)
}

/// [`call_with`] without extra headers.
pub fn call(
    b: &Ballast,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    call_with(b, method, path, token, body, &[])
}

/// Every row of the object tables and the job count, read from the
/// database file itself: proof that a refused request changed nothing.
pub fn db_state(b: &Ballast) -> Value {
    let path = b.dir.join("data").join("ballast.sqlite3");
    let conn =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open database");
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .expect("busy timeout");
    let mut state = serde_json::Map::new();
    for table in [
        "load_balancers",
        "listeners",
        "pools",
        "members",
        "health_monitors",
        "ports",
        "certificates",
        "jobs",
        "projects",
        "users",
        "role_assignments",
        "application_credentials",
    ] {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY rowid"))
            .expect("select");
        let cols = stmt.column_count();
        let rows: Vec<Value> = stmt
            .query_map([], |r| {
                let mut row = Vec::new();
                for i in 0..cols {
                    let v: rusqlite::types::Value = r.get(i)?;
                    row.push(match v {
                        rusqlite::types::Value::Null => Value::Null,
                        rusqlite::types::Value::Integer(n) => json!(n),
                        rusqlite::types::Value::Real(f) => json!(f),
                        rusqlite::types::Value::Text(t) => json!(t),
                        rusqlite::types::Value::Blob(b) => json!(b),
                    });
                }
                Ok(Value::Array(row))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        state.insert(table.to_string(), Value::Array(rows));
    }
    strip_operating_status_columns(&mut state, &conn);
    Value::Object(state)
}

/// Operating status moves with health checks, independent of any request:
/// blank its column so a comparison sees only what requests change.
fn strip_operating_status_columns(
    state: &mut serde_json::Map<String, Value>,
    conn: &rusqlite::Connection,
) {
    for (table, rows) in state.iter_mut() {
        let Ok(stmt) = conn.prepare(&format!("SELECT * FROM {table} LIMIT 0")) else {
            continue;
        };
        let skip: Vec<usize> = stmt
            .column_names()
            .iter()
            .enumerate()
            .filter(|(_, n)| matches!(**n, "operating_status" | "updated_at" | "bytes_in"))
            .map(|(i, _)| i)
            .collect();
        for row in rows.as_array_mut().into_iter().flatten() {
            for i in &skip {
                row[*i] = Value::Null;
            }
        }
    }
}

/// The id of the instance's one network, read with `token`.
pub fn network_id(b: &Ballast, token: &str) -> String {
    let (s, nets) = call(b, "GET", "/v1/networks", Some(token), None);
    assert_eq!(s, 200, "{nets}");
    nets[0]["id"].as_str().expect("network id").to_string()
}

/// Wait until load balancer `id` is ACTIVE, reading with `token`.
pub fn wait_active(b: &Ballast, token: &str, id: &str) {
    super::wait_until(
        std::time::Duration::from_secs(10),
        "load balancer ACTIVE",
        || {
            call(
                b,
                "GET",
                &format!("/v1/loadbalancers/{id}"),
                Some(token),
                None,
            )
            .1["provisioning_status"]
                == "ACTIVE"
        },
    );
}
