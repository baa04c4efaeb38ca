//! `/v3/auth/tokens`: log in (methods `password`, `application_credential`
//! and `token`), validate and revoke. Failed logins count against the user
//! and the source address ([`Lockout`](crate::api::auth::lockout::Lockout))
//! and are logged with the source; secrets are compared by argon2's
//! constant-time verification, also for unknown users.

use rocket::http::{Header, Status};
use rocket::response::{self, Responder, Response};
use rocket::serde::json::Json;
use rocket::{Request, State, delete, get, post, routes};
use serde_json::{Value, json};
use tracing::{info, warn};

use super::{ClientAddr, domain, is_default_domain, public_url};
use crate::api::ApiState;
use crate::api::auth::{self, Caller, Identity, unauthorized};
use crate::api::error::{ApiError, ApiResult};
use crate::api::guards::Body;
use crate::api::v2::shape::{BaseUrl, timestamp};
use crate::store::identity::tokens::{self as store_tokens, NewToken};
use crate::store::identity::{Role, directory, dummy_hash, verify_secret};

/// The routes, mounted under `/v3`.
pub fn routes() -> Vec<rocket::Route> {
    routes![login, validate, revoke]
}

/// Keystone's timestamp text: `2026-01-31T12:00:00.000000Z`.
fn keystone_time(secs: i64) -> String {
    format!("{}.000000Z", timestamp(secs))
}

/// A stable id for a catalog entry (the catalog is the same for everyone).
fn catalog_id(what: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("ballast:{what}").as_bytes(),
    )
    .simple()
    .to_string()
}

/// The service catalog: Ballast is `load-balancer` and `network` at `url`,
/// and `identity` at `url/v3` (the CLI's project and user commands), on
/// every interface.
fn catalog(url: &str) -> Value {
    let service = |kind: &str, name: &str, url: &str| {
        let endpoints: Vec<Value> = ["public", "internal", "admin"]
            .iter()
            .map(|interface| {
                json!({
                    "id": catalog_id(&format!("{kind}:{interface}")),
                    "interface": interface,
                    "region": "RegionOne",
                    "region_id": "RegionOne",
                    "url": url,
                })
            })
            .collect();
        json!({"id": catalog_id(kind), "type": kind, "name": name, "endpoints": endpoints})
    };
    json!([
        service("load-balancer", "octavia", url),
        service("network", "neutron", url),
        service("identity", "keystone", &format!("{url}/v3")),
    ])
}

/// Keystone's token body for `identity`.
fn token_body(identity: &Identity, url: &str) -> Value {
    let f = &identity.facts;
    let mut token = json!({
        "methods": f.methods,
        "user": {
            "id": f.user_id,
            "name": identity.user_name,
            "domain": domain(),
            "password_expires_at": null,
        },
        "audit_ids": [f.audit_id],
        "issued_at": keystone_time(f.issued_at),
        "expires_at": keystone_time(f.expires_at),
    });
    if let Some((id, name)) = &identity.project {
        token["project"] = json!({"id": id, "name": name, "domain": domain()});
        token["is_domain"] = json!(false);
        token["roles"] = identity
            .roles
            .iter()
            .map(|r| json!({"id": r.as_str(), "name": r.as_str()}))
            .collect();
        token["catalog"] = catalog(url);
    }
    if let Some(cred) = &f.application_credential_id {
        token["application_credential"] = json!({"id": cred, "restricted": true});
    }
    json!({ "token": token })
}

/// A token answer: the status, `X-Subject-Token` and the body.
pub struct TokenAnswer {
    status: Status,
    token: String,
    body: Value,
}

impl<'r> Responder<'r, 'static> for TokenAnswer {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        Response::build_from(Json(self.body).respond_to(req)?)
            .status(self.status)
            .header(Header::new("X-Subject-Token", self.token))
            .ok()
    }
}

/// Who a login names, once checked.
struct Authenticated {
    user_id: String,
    methods: Vec<String>,
    /// An application credential's fixed project.
    fixed_project: Option<String>,
    application_credential_id: Option<String>,
    /// A rescoped token may not outlive the one it came from.
    not_after: Option<i64>,
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Refuse a login, counting the failure against each key.
fn failed(state: &ApiState, keys: &[String], source: &ClientAddr, who: &str) -> ApiError {
    let mut locked = false;
    for k in keys {
        locked |= state.auth.lockout.fail(k);
    }
    warn!(source = %source, user = who, locked_out = locked, "login failed");
    unauthorized("the credentials are not valid")
}

/// Refuse while any key is locked out.
fn check_lockout(
    state: &ApiState,
    keys: &[String],
    source: &ClientAddr,
    who: &str,
) -> ApiResult<()> {
    for k in keys {
        if let Some(left) = state.auth.lockout.locked(k) {
            warn!(source = %source, user = who, key = %k, retry_after_secs = left.as_secs(),
                  "login refused: locked out");
            return Err(unauthorized(
                "too many failed logins; the account or address is locked out for a while",
            ));
        }
    }
    Ok(())
}

/// The user a `user` object names (`{"id"}` or `{"name", "domain"}`).
fn user_ref(conn: &rusqlite::Connection, user: &Value) -> ApiResult<Option<directory::User>> {
    if !is_default_domain(user.get("domain")) {
        return Ok(None);
    }
    Ok(match (str_field(user, "id"), str_field(user, "name")) {
        (Some(id), _) => directory::get_user(conn, id)?,
        (None, Some(name)) => directory::user_by_name(conn, name)?,
        (None, None) => return Err(ApiError::bad_request("auth: user needs an id or a name")),
    })
}

async fn password_login(
    state: &ApiState,
    p: &Value,
    source: &ClientAddr,
) -> ApiResult<Authenticated> {
    let user = p
        .get("user")
        .ok_or_else(|| ApiError::bad_request("auth.identity.password: needs a user"))?
        .clone();
    let password = str_field(&user, "password")
        .ok_or_else(|| ApiError::bad_request("auth.identity.password.user: needs a password"))?
        .to_string();
    let who = str_field(&user, "name")
        .or_else(|| str_field(&user, "id"))
        .unwrap_or("")
        .to_string();
    let addr_key = format!("addr:{source}");
    check_lockout(state, std::slice::from_ref(&addr_key), source, &who)?;
    let found = state
        .store
        .run(move |conn| {
            let user =
                user_ref(conn, &user).map_err(|e| crate::store::StoreError::Task(e.message))?;
            let hash = match &user {
                Some(u) if u.enabled => directory::password_hash(conn, &u.id)?,
                _ => None,
            };
            // Verify against a dummy when there is nothing to verify, so an
            // unknown name costs what a known one does.
            let ok =
                verify_secret(hash.as_deref().unwrap_or(dummy_hash()), &password) && hash.is_some();
            Ok((user.map(|u| u.id), ok))
        })
        .await?;
    let (user_id, ok) = found;
    let user_key = format!("user:{}", user_id.as_deref().unwrap_or(&who));
    let keys = [user_key.clone(), addr_key];
    check_lockout(state, &keys, source, &who)?;
    match (user_id, ok) {
        (Some(user_id), true) => {
            state.auth.lockout.clear(&user_key);
            Ok(Authenticated {
                user_id,
                methods: vec!["password".into()],
                fixed_project: None,
                application_credential_id: None,
                not_after: None,
            })
        }
        _ => Err(failed(state, &keys, source, &who)),
    }
}

async fn credential_login(
    state: &ApiState,
    c: &Value,
    source: &ClientAddr,
) -> ApiResult<Authenticated> {
    let c = c.clone();
    let secret = str_field(&c, "secret")
        .ok_or_else(|| {
            ApiError::bad_request("auth.identity.application_credential: needs a secret")
        })?
        .to_string();
    let who = str_field(&c, "id")
        .or_else(|| str_field(&c, "name"))
        .unwrap_or("")
        .to_string();
    let addr_key = format!("addr:{source}");
    check_lockout(state, std::slice::from_ref(&addr_key), source, &who)?;
    let found = state
        .store
        .run(move |conn| {
            use crate::store::identity::tokens::{app_credential_by_name, get_app_credential};
            let cred = match (str_field(&c, "id"), str_field(&c, "name"), c.get("user")) {
                (Some(id), _, _) => get_app_credential(conn, id)?,
                (None, Some(name), Some(user)) => {
                    match user_ref(conn, user)
                        .map_err(|e| crate::store::StoreError::Task(e.message))?
                    {
                        Some(u) => app_credential_by_name(conn, &u.id, name)?,
                        None => None,
                    }
                }
                _ => None,
            };
            let hash = match &cred {
                Some(c) => store_tokens::app_credential_secret_hash(conn, &c.id)?,
                None => None,
            };
            let ok =
                verify_secret(hash.as_deref().unwrap_or(dummy_hash()), &secret) && hash.is_some();
            let live = cred
                .as_ref()
                .is_some_and(|c| c.expires_at.is_none_or(|e| e > crate::store::now()));
            Ok((cred, ok && live))
        })
        .await?;
    let (cred, ok) = found;
    let key = format!(
        "appcred:{}",
        cred.as_ref().map_or(who.as_str(), |c| c.id.as_str())
    );
    let keys = [key.clone(), addr_key];
    check_lockout(state, &keys, source, &who)?;
    match (cred, ok) {
        (Some(cred), true) => {
            state.auth.lockout.clear(&key);
            Ok(Authenticated {
                user_id: cred.user_id,
                methods: vec!["application_credential".into()],
                fixed_project: Some(cred.project_id),
                application_credential_id: Some(cred.id),
                not_after: None,
            })
        }
        _ => Err(failed(state, &keys, source, &who)),
    }
}

async fn token_login(state: &ApiState, t: &Value) -> ApiResult<Authenticated> {
    let token = str_field(t, "id")
        .ok_or_else(|| ApiError::bad_request("auth.identity.token: needs an id"))?
        .to_string();
    let facts = state
        .store
        .run(move |conn| store_tokens::check(conn, &token))
        .await?
        .map_err(|_| unauthorized("the token is unknown, expired or revoked"))?;
    if facts.application_credential_id.is_some() {
        return Err(auth::forbidden(
            "a token from an application credential cannot be rescoped",
        ));
    }
    Ok(Authenticated {
        user_id: facts.user_id,
        methods: vec!["token".into()],
        fixed_project: None,
        application_credential_id: None,
        not_after: Some(facts.expires_at),
    })
}

/// `POST /v3/auth/tokens`: 201 with the token in `X-Subject-Token`.
#[post("/auth/tokens", data = "<body>")]
async fn login(
    state: &State<ApiState>,
    body: Body<Value>,
    source: ClientAddr,
    base: BaseUrl,
) -> ApiResult<TokenAnswer> {
    let body = body.into_inner()?;
    let auth = body
        .get("auth")
        .ok_or_else(|| ApiError::bad_request("request body must have an \"auth\" object"))?;
    let identity = auth
        .get("identity")
        .ok_or_else(|| ApiError::bad_request("auth: needs an identity"))?;
    let methods: Vec<&str> = identity
        .get("methods")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let method_body = |m: &str| {
        identity
            .get(m)
            .ok_or_else(|| ApiError::bad_request(format!("auth.identity: needs \"{m}\"")))
    };
    let who = if methods.contains(&"password") {
        password_login(state, method_body("password")?, &source).await?
    } else if methods.contains(&"application_credential") {
        credential_login(state, method_body("application_credential")?, &source).await?
    } else if methods.contains(&"token") {
        token_login(state, method_body("token")?).await?
    } else {
        return Err(unauthorized(
            "auth.identity.methods: Ballast accepts password, application_credential and token",
        ));
    };
    let scope = auth.get("scope").cloned();
    let ttl = state.auth.token_ttl_secs;
    let (token, user_name) = state
        .store
        .write_with(move |tx| {
            let project = scoped_project(tx, &who, scope.as_ref())?;
            let (token, _) = store_tokens::issue(
                tx,
                &NewToken {
                    user_id: &who.user_id,
                    project_id: project.as_deref(),
                    application_credential_id: who.application_credential_id.as_deref(),
                    methods: &who.methods,
                    ttl_secs: ttl,
                    not_after: who.not_after,
                },
            )?;
            let user = directory::get_user(tx, &who.user_id)?
                .ok_or_else(|| unauthorized("the user is gone"))?;
            Ok::<_, ApiError>((token, user.name))
        })
        .await?;
    let identity = match auth::identify(state, token.clone()).await? {
        Ok(i) => i,
        Err(_) => return Err(ApiError::internal("a token just issued does not check")),
    };
    info!(
        source = %source,
        user = %user_name,
        project = identity.project_id().unwrap_or("-"),
        audit_id = %identity.facts.audit_id,
        methods = ?identity.facts.methods,
        "token issued"
    );
    Ok(TokenAnswer {
        status: Status::Created,
        body: token_body(&identity, &public_url(state, &base)),
        token,
    })
}

/// The project a new token is scoped to: the request's `scope.project`, an
/// application credential's own, or else the user's default project when
/// they hold a role there (else unscoped). The user must hold a role on it.
fn scoped_project(
    conn: &rusqlite::Connection,
    who: &Authenticated,
    scope: Option<&Value>,
) -> ApiResult<Option<String>> {
    let requested = match scope.and_then(|s| s.get("project")) {
        Some(p) => {
            let project = match (str_field(p, "id"), str_field(p, "name")) {
                (Some(id), _) => directory::get_project(conn, id)?,
                (None, Some(name)) if is_default_domain(p.get("domain")) => {
                    directory::project_by_name(conn, name)?
                }
                _ => None,
            };
            let project = project
                .filter(|p| p.enabled)
                .ok_or_else(|| unauthorized("the project to scope to is not known"))?;
            Some(project.id)
        }
        None if scope.is_some_and(|s| s.get("domain").is_some() || s.get("system").is_some()) => {
            return Err(unauthorized("Ballast scopes tokens to projects only"));
        }
        None => None,
    };
    let project = match (&who.fixed_project, requested) {
        (Some(fixed), Some(r)) if *fixed != r => {
            return Err(unauthorized(
                "an application credential is bound to its own project",
            ));
        }
        (Some(fixed), _) => Some(fixed.clone()),
        (None, Some(r)) => Some(r),
        (None, None) => {
            let default =
                directory::get_user(conn, &who.user_id)?.and_then(|u| u.default_project_id);
            match default {
                Some(p) if !directory::roles_on(conn, &who.user_id, &p)?.is_empty() => Some(p),
                _ => None,
            }
        }
    };
    if let Some(p) = &project
        && directory::roles_on(conn, &who.user_id, p)?.is_empty()
    {
        return Err(unauthorized("the user has no role on the project"));
    }
    Ok(project)
}

/// The `X-Subject-Token` header.
pub struct SubjectToken(Option<String>);

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for SubjectToken {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> rocket::request::Outcome<Self, Self::Error> {
        rocket::request::Outcome::Success(SubjectToken(
            req.headers()
                .get_one("X-Subject-Token")
                .map(|t| t.trim().to_string()),
        ))
    }
}

/// The subject token, if the caller may look at it: their own, or any for
/// an admin. Anything else is 404, as Keystone answers an unknown token.
async fn subject(state: &ApiState, caller: &Caller, subject: SubjectToken) -> ApiResult<Identity> {
    let token = subject
        .0
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("X-Subject-Token is missing"))?;
    let Some(me) = caller.identity() else {
        return Err(unauthorized("X-Auth-Token is missing"));
    };
    if me.token != token && me.role() != Some(Role::Admin) {
        return Err(auth::forbidden(
            "only an admin may look at another user's token",
        ));
    }
    auth::identify(state, token)
        .await?
        .map_err(|_| ApiError::not_found("token", "X-Subject-Token"))
}

/// `GET /v3/auth/tokens` (and HEAD): 200 with the token's body.
#[get("/auth/tokens")]
async fn validate(
    state: &State<ApiState>,
    caller: Caller,
    token: SubjectToken,
    base: BaseUrl,
) -> ApiResult<TokenAnswer> {
    let identity = subject(state, &caller, token).await?;
    Ok(TokenAnswer {
        status: Status::Ok,
        body: token_body(&identity, &public_url(state, &base)),
        token: identity.token.clone(),
    })
}

/// `DELETE /v3/auth/tokens`: revoke; 204.
#[delete("/auth/tokens")]
async fn revoke(state: &State<ApiState>, caller: Caller, token: SubjectToken) -> ApiResult<Status> {
    let identity = subject(state, &caller, token).await?;
    let t = identity.token.clone();
    state
        .store
        .write(move |tx| store_tokens::revoke(tx, &t))
        .await?;
    info!(audit_id = %identity.facts.audit_id, user = %identity.user_name, "token revoked");
    Ok(Status::NoContent)
}
