//! Who is calling, and whether they may: `[auth] mode`, the token check,
//! the role rules of every route ([`Gate`], a fairing that runs before
//! routing for every request, so a route added later is guarded by
//! default), and the project scope the request's store work runs in
//! ([`Api`], the handlers' state guard; the rule itself is [`scope`]).
//!
//! In `local` mode every request needs a valid `X-Auth-Token` except the
//! open ones: `/healthz`, `/readyz`, `GET /` (versions document or UI),
//! `GET /v3`, `POST /v3/auth/tokens` (the login), the web UI's files, and
//! `/metrics` while the API listens on loopback. Missing, unknown, expired
//! or revoked: 401. A `reader` writing, or anyone but an `admin` touching
//! identity (`/v3/...`, except their own application credentials): 403.
//! An object of another project: 404 from the lookup, as if absent.
//!
//! This module never reads a secret: tokens are checked by their hash in
//! the store, logins are `identity`'s.

pub mod lockout;
pub mod scope;

use std::sync::Arc;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::{Method, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::{Data, Request, Response};
use tracing::{debug, error, info};

use super::ApiState;
use super::error::{ApiError, ApiResult};
use crate::config::{AuthConfig, AuthMode};
use crate::store::identity::tokens::{self, Rejected, Token};
use crate::store::identity::{Role, directory};
pub use scope::Scope;

/// `[auth]` as the API uses it.
#[derive(Debug)]
pub struct AuthState {
    pub mode: AuthMode,
    /// Lifetime of a new token (seconds).
    pub token_ttl_secs: i64,
    /// `[auth] public_url`, without a trailing slash.
    pub public_url: Option<String>,
    /// Failed logins per user and per source address.
    pub lockout: lockout::Lockout,
    /// `/metrics` answers without a token (the API listens on loopback).
    pub metrics_open: bool,
}

impl AuthState {
    /// The API's auth settings; `api_on_loopback` says where it listens.
    pub fn new(config: &AuthConfig, api_on_loopback: bool) -> Self {
        Self {
            mode: config.mode,
            token_ttl_secs: config.token_ttl_secs as i64,
            public_url: config
                .public_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_string()),
            lockout: lockout::Lockout::new(
                config.lockout_failure_attempts,
                std::time::Duration::from_secs(config.lockout_duration_secs),
            ),
            metrics_open: api_on_loopback,
        }
    }

    /// The scope of store work no request scoped: everything in `none`
    /// mode, nothing in `local` mode (fail closed).
    pub fn unscoped(&self) -> Scope {
        match self.mode {
            AuthMode::None => Scope::All,
            AuthMode::Local => Scope::Nothing,
        }
    }
}

/// A valid token and who it speaks for.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The token, as the client sent it (to answer "is this my token").
    pub token: String,
    pub facts: Token,
    pub user_name: String,
    /// The project the token is scoped to: (id, name).
    pub project: Option<(String, String)>,
    /// Roles on that project, implied ones included (empty when unscoped).
    pub roles: Vec<Role>,
}

impl Identity {
    /// The highest role held, if any.
    pub fn role(&self) -> Option<Role> {
        self.roles.iter().copied().max()
    }

    /// Whether the token carries `admin`.
    pub fn is_admin(&self) -> bool {
        self.role() == Some(Role::Admin)
    }

    /// The token's project id.
    pub fn project_id(&self) -> Option<&str> {
        self.project.as_ref().map(|(id, _)| id.as_str())
    }

    /// The objects this token may see: an admin's all, a member's or
    /// reader's their project's.
    pub fn scope(&self) -> Scope {
        match (self.is_admin(), self.project_id()) {
            (true, _) => Scope::All,
            (false, Some(p)) if self.role().is_some() => Scope::Project(p.to_string()),
            _ => Scope::Nothing,
        }
    }
}

/// Who is calling, as the [`Gate`] decided before routing.
#[derive(Clone, Debug)]
pub enum Caller {
    /// `[auth] mode = "none"`: anyone may do anything.
    Open,
    /// `local` mode without a valid token (only open paths get this far).
    Anonymous,
    /// A valid token.
    User(Arc<Identity>),
}

impl Caller {
    /// The project scope of this caller's store work.
    pub fn scope(&self) -> Scope {
        match self {
            Caller::Open => Scope::All,
            Caller::Anonymous => Scope::Nothing,
            Caller::User(i) => i.scope(),
        }
    }

    /// The identity, when there is a valid token.
    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Caller::User(i) => Some(i),
            _ => None,
        }
    }
}

/// The request-local caller; absent only when the gate did not run.
struct CallerCell(Option<Caller>);

/// The caller of `req`. Without the gate's verdict it is anonymous in
/// `local` mode (fail closed) and open in `none` mode.
pub fn caller(req: &Request<'_>) -> Caller {
    if let Some(c) = &req.local_cache(|| CallerCell(None)).0 {
        return c.clone();
    }
    match req.rocket().state::<ApiState>().map(|s| s.auth.mode) {
        Some(AuthMode::None) => Caller::Open,
        _ => Caller::Anonymous,
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Caller {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(caller(req))
    }
}

/// Look up the token: its facts, user, project and roles now.
pub async fn identify(
    state: &ApiState,
    token: String,
) -> ApiResult<std::result::Result<Identity, Rejected>> {
    let found = state
        .store
        .run(move |conn| {
            let facts = match tokens::check(conn, &token)? {
                Ok(f) => f,
                Err(why) => return Ok(Err(why)),
            };
            let Some(user) = directory::get_user(conn, &facts.user_id)? else {
                return Ok(Err(Rejected::Disabled));
            };
            let project = match &facts.project_id {
                Some(p) => match directory::get_project(conn, p)? {
                    Some(p) => Some((p.id, p.name)),
                    None => return Ok(Err(Rejected::Disabled)),
                },
                None => None,
            };
            let roles = tokens::roles(conn, &facts)?;
            Ok(Ok(Identity {
                token,
                facts,
                user_name: user.name,
                project,
                roles,
            }))
        })
        .await?;
    Ok(found)
}

/// What a request needs of its caller, from its method and path alone.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Need {
    /// Nothing (the open paths).
    Open,
    /// A valid token, whatever its scope (`/v3/auth/tokens` checks).
    AnyToken,
    /// A project-scoped token with at least this role.
    Role(Role),
    /// An admin token, or the token of this user.
    AdminOrUser(String),
}

/// The rule for `method` on the path `segments`. `api_prefix` says whether
/// an API route (not the UI's catch-all) begins with a segment.
fn need(
    method: Method,
    segments: &[&str],
    metrics_open: bool,
    api_prefix: impl Fn(&str) -> bool,
) -> Need {
    let read = matches!(method, Method::Get | Method::Head);
    match segments {
        [] if read => Need::Open,
        ["healthz"] | ["readyz"] => Need::Open,
        ["metrics"] if metrics_open => Need::Open,
        ["v3"] if read => Need::Open,
        ["v3", "auth", "tokens"] if method == Method::Post => Need::Open,
        ["v3", "auth", ..] => Need::AnyToken,
        ["v3", "users", user, "application_credentials", ..] => {
            Need::AdminOrUser((*user).to_string())
        }
        // A project's look-up (Keystone's `identity:get_project`): any
        // role; the handlers show a non-admin only the token's project.
        ["v3", "projects"] | ["v3", "projects", _] if read => Need::Role(Role::Reader),
        ["v3", ..] => Need::Role(Role::Admin),
        [first, ..] if read && !api_prefix(first) => Need::Open,
        _ if read => Need::Role(Role::Reader),
        _ => Need::Role(Role::Member),
    }
}

/// 401 as Keystone words it.
pub fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(
        Status::Unauthorized,
        format!("The request you have made requires authentication: {detail}"),
    )
}

/// 403.
pub fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(Status::Forbidden, message)
}

/// Whether `identity` meets `need` (Open is met by anyone).
fn judge(need: &Need, identity: Option<&Identity>, missing: &str) -> ApiResult<()> {
    if *need == Need::Open {
        return Ok(());
    }
    let Some(id) = identity else {
        return Err(unauthorized(missing));
    };
    match need {
        Need::Open | Need::AnyToken => Ok(()),
        Need::AdminOrUser(user) if id.is_admin() || id.facts.user_id == *user => Ok(()),
        Need::AdminOrUser(_) => Err(forbidden(
            "only an admin may manage another user's application credentials",
        )),
        Need::Role(want) => match id.role() {
            None => Err(forbidden(
                "the token carries no role on a project; scope it to a project",
            )),
            Some(have) if have >= *want => Ok(()),
            Some(have) if *want == Role::Admin => Err(forbidden(format!(
                "role {have} may not manage identity; admin only"
            ))),
            Some(have) => Err(forbidden(format!(
                "role {have} may only read; changes need {want}"
            ))),
        },
    }
}

/// Whether some API route (not a catch-all) starts with `first`.
fn api_prefix(req: &Request<'_>, first: &str) -> bool {
    req.rocket().routes().any(|r| {
        r.uri
            .path()
            .split('/')
            .find(|s| !s.is_empty())
            .is_some_and(|s| s == first)
    })
}

/// The fairing: identify the caller, apply [`need`], refuse with 401/403
/// before routing, and log every write with user, project and request id.
pub struct Gate;

#[rocket::async_trait]
impl Fairing for Gate {
    fn info(&self) -> Info {
        Info {
            name: "authentication gate",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, req: &mut Request<'_>, _: &mut Data<'_>) {
        let Some(state) = req.rocket().state::<ApiState>().cloned() else {
            return;
        };
        if super::policy::is_intercepted(req) {
            return;
        }
        if state.auth.mode == AuthMode::None {
            req.local_cache(|| CallerCell(Some(Caller::Open)));
            return;
        }
        let segments: Vec<String> = req.uri().path().segments().map(str::to_string).collect();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let need = need(req.method(), &segs, state.auth.metrics_open, |f| {
            api_prefix(req, f)
        });
        let token = req
            .headers()
            .get_one("X-Auth-Token")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let (identity, missing) = match token {
            None => (None, "X-Auth-Token is missing"),
            Some(t) => match identify(&state, t).await {
                Ok(Ok(i)) => (Some(i), ""),
                Ok(Err(why)) => {
                    debug!(?why, "token refused");
                    (None, "the token is unknown, expired or revoked")
                }
                Err(e) => {
                    error!(error = %e.message, "token check failed");
                    super::policy::refuse(req, ApiError::internal("token check failed"));
                    return;
                }
            },
        };
        let verdict = judge(&need, identity.as_ref(), missing);
        let caller = match identity {
            Some(i) => Caller::User(Arc::new(i)),
            None => Caller::Anonymous,
        };
        req.local_cache(|| CallerCell(Some(caller)));
        if let Err(e) = verdict {
            super::policy::refuse(req, e);
        }
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        let write = matches!(
            req.method(),
            Method::Post | Method::Put | Method::Patch | Method::Delete
        );
        let path = super::request_log::original_path(req);
        if !write || path == "/v3/auth/tokens" && req.method() == Method::Post {
            return;
        }
        let request_id = super::request_log::request_id(req);
        let status = res.status().code;
        match caller(req) {
            Caller::User(i) => info!(
                request_id,
                user = %i.user_name,
                user_id = %i.facts.user_id,
                project = i.project_id().unwrap_or("-"),
                method = %req.method(),
                path,
                status,
                "write"
            ),
            _ => info!(
                request_id,
                user = "-",
                project = "-",
                method = %req.method(),
                path,
                status,
                "write"
            ),
        }
    }
}

/// The handlers' view of the API state: [`ApiState`] plus the caller's
/// project scope, which every store closure run through it carries.
pub struct Api<'r> {
    state: &'r ApiState,
    scope: Scope,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Api<'r> {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let Some(state) = req.rocket().state::<ApiState>() else {
            error!("ApiState is not managed");
            return Outcome::Error((Status::InternalServerError, ()));
        };
        Outcome::Success(Api {
            state,
            scope: caller(req).scope(),
        })
    }
}

impl std::ops::Deref for Api<'_> {
    type Target = ApiState;
    fn deref(&self) -> &ApiState {
        self.state
    }
}

impl<'r> Api<'r> {
    /// The shared state.
    pub fn inner(&self) -> &'r ApiState {
        self.state
    }

    /// The caller's scope.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// [`ApiState::read`] in the caller's scope.
    pub async fn read<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> ApiResult<T> + Send + 'static,
    {
        self.state.read_in(self.scope.clone(), f).await
    }

    /// [`ApiState::write`] in the caller's scope.
    pub async fn write<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> ApiResult<T> + Send + 'static,
    {
        self.state.write_in(self.scope.clone(), f).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(method: Method, path: &str) -> Need {
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        need(method, &segs, false, |f| {
            ["v1", "v2", "v2.0", "v3", "metrics", "healthz", "readyz"].contains(&f)
        })
    }

    #[test]
    fn only_the_listed_paths_and_the_ui_are_open() {
        for (m, p) in [
            (Method::Get, "/"),
            (Method::Get, "/healthz"),
            (Method::Get, "/readyz"),
            (Method::Get, "/v3"),
            (Method::Post, "/v3/auth/tokens"),
            (Method::Get, "/app.js"),
            (Method::Get, "/some/ui/route"),
        ] {
            assert_eq!(n(m, p), Need::Open, "{m} {p}");
        }
        assert_eq!(n(Method::Get, "/metrics"), Need::Role(Role::Reader));
        assert_eq!(
            n(Method::Get, "/v1/loadbalancers"),
            Need::Role(Role::Reader)
        );
        assert_eq!(n(Method::Get, "/v2/lbaas/pools"), Need::Role(Role::Reader));
        assert_eq!(
            n(Method::Post, "/v2.0/lbaas/pools"),
            Need::Role(Role::Member)
        );
        assert_eq!(n(Method::Post, "/anything"), Need::Role(Role::Member));
        assert_eq!(n(Method::Get, "/v3/projects"), Need::Role(Role::Reader));
        assert_eq!(n(Method::Get, "/v3/projects/p1"), Need::Role(Role::Reader));
        assert_eq!(n(Method::Post, "/v3/projects"), Need::Role(Role::Admin));
        assert_eq!(
            n(Method::Get, "/v3/projects/p1/users/u1/roles"),
            Need::Role(Role::Admin)
        );
        assert_eq!(n(Method::Get, "/v3/users"), Need::Role(Role::Admin));
        assert_eq!(n(Method::Get, "/v3/auth/tokens"), Need::AnyToken);
        assert_eq!(
            n(Method::Post, "/v3/users/u1/application_credentials"),
            Need::AdminOrUser("u1".into())
        );
    }

    fn identity(role: Option<Role>) -> Identity {
        Identity {
            token: "t".into(),
            facts: Token {
                user_id: "u1".into(),
                project_id: Some("p1".into()),
                application_credential_id: None,
                methods: vec!["password".into()],
                audit_id: "a".into(),
                issued_at: 0,
                expires_at: 1,
            },
            user_name: "alice".into(),
            project: Some(("p1".into(), "one".into())),
            roles: role.map(Role::implied).unwrap_or_default(),
        }
    }

    #[test]
    fn readers_read_members_write_and_only_admins_manage_identity() {
        let code = |need: Need, role: Option<Role>| {
            judge(&need, Some(&identity(role)), "").map_or_else(|e| e.status.code, |_| 200)
        };
        assert_eq!(code(Need::Role(Role::Reader), Some(Role::Reader)), 200);
        assert_eq!(code(Need::Role(Role::Member), Some(Role::Reader)), 403);
        assert_eq!(code(Need::Role(Role::Member), Some(Role::Member)), 200);
        assert_eq!(code(Need::Role(Role::Admin), Some(Role::Member)), 403);
        assert_eq!(code(Need::Role(Role::Admin), Some(Role::Admin)), 200);
        assert_eq!(code(Need::Role(Role::Reader), None), 403);
        assert_eq!(
            code(Need::AdminOrUser("u1".into()), Some(Role::Reader)),
            200
        );
        assert_eq!(
            code(Need::AdminOrUser("u2".into()), Some(Role::Member)),
            403
        );
        assert_eq!(code(Need::AdminOrUser("u2".into()), Some(Role::Admin)), 200);
        let e = judge(&Need::AnyToken, None, "X-Auth-Token is missing").unwrap_err();
        assert_eq!(e.status.code, 401);
        assert!(judge(&Need::Open, None, "").is_ok());
    }

    #[test]
    fn a_scope_follows_the_role() {
        assert_eq!(identity(Some(Role::Admin)).scope(), Scope::All);
        assert_eq!(
            identity(Some(Role::Reader)).scope(),
            Scope::Project("p1".into())
        );
        assert_eq!(identity(None).scope(), Scope::Nothing);
    }
}
