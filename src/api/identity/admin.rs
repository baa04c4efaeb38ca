//! Keystone's admin resources: `/v3/projects`, `/v3/users`, `/v3/roles`,
//! role assignments (`PUT /v3/projects/{p}/users/{u}/roles/{r}`) and
//! `/v3/users/{id}/application_credentials`, with the `?name=` look-ups the
//! `openstack` CLI makes. The gate lets only admins here, except a user's
//! own application credentials.

use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{State, delete, get, post, put, routes};
use serde_json::{Value, json};
use tracing::info;

use crate::api::ApiState;
use crate::api::auth::{Caller, forbidden};
use crate::api::error::{ApiError, ApiResult};
use crate::api::guards::Body;
use crate::api::v2::shape::BaseUrl;
use crate::store::identity::directory::{self, Project, User};
use crate::store::identity::tokens::{self as store_tokens, AppCredential, NewAppCredential};
use crate::store::identity::{DOMAIN_ID, Role, hash_secret, random_hex};

/// The routes, mounted under `/v3`.
pub fn routes() -> Vec<rocket::Route> {
    routes![
        list_projects,
        show_project,
        create_project,
        list_users,
        show_user,
        create_user,
        list_roles,
        show_role,
        create_role,
        grant_role,
        check_role,
        revoke_role,
        list_credentials,
        show_credential,
        create_credential,
        delete_credential,
    ]
}

fn links(base: &BaseUrl, path: &str) -> Value {
    json!({"self": base.join(path)})
}

fn list_links(base: &BaseUrl) -> Value {
    json!({"self": base.url(), "previous": null, "next": null})
}

fn project_body(p: &Project, base: &BaseUrl) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "enabled": p.enabled,
        "domain_id": DOMAIN_ID,
        "parent_id": DOMAIN_ID,
        "is_domain": false,
        "tags": [],
        "options": {},
        "links": links(base, &format!("/v3/projects/{}", p.id)),
    })
}

fn user_body(u: &User, base: &BaseUrl) -> Value {
    let mut b = json!({
        "id": u.id,
        "name": u.name,
        "domain_id": DOMAIN_ID,
        "enabled": u.enabled,
        "password_expires_at": null,
        "options": {},
        "links": links(base, &format!("/v3/users/{}", u.id)),
    });
    if let Some(p) = &u.default_project_id {
        b["default_project_id"] = json!(p);
    }
    b
}

fn role_body(r: Role, base: &BaseUrl) -> Value {
    json!({
        "id": r.as_str(),
        "name": r.as_str(),
        "domain_id": null,
        "description": "",
        "options": {},
        "links": links(base, &format!("/v3/roles/{}", r.as_str())),
    })
}

fn credential_body(c: &AppCredential, base: &BaseUrl) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "description": c.description,
        "project_id": c.project_id,
        "user_id": c.user_id,
        "roles": c.roles.iter().map(|r| json!({"id": r.as_str(), "name": r.as_str(), "domain_id": null})).collect::<Vec<_>>(),
        "expires_at": c.expires_at.map(|e| format!("{}.000000", crate::api::v2::shape::timestamp(e))),
        "unrestricted": false,
        "access_rules": [],
        "links": links(base, &format!("/v3/users/{}/application_credentials/{}", c.user_id, c.id)),
    })
}

/// The object under `key` of a Keystone request body.
fn wrapped(body: Body<Value>, key: &str) -> ApiResult<Value> {
    let mut v = body.into_inner()?;
    v.get_mut(key)
        .filter(|o| o.is_object())
        .map(Value::take)
        .ok_or_else(|| ApiError::bad_request(format!("request body must have a \"{key}\" object")))
}

fn text(v: &Value, key: &str) -> ApiResult<Option<String>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::field(key, "must be a string")),
    }
}

/// Refuse a domain other than the default, and a disabled new object.
fn check_common(v: &Value) -> ApiResult<()> {
    if let Some(d) = text(v, "domain_id")?
        && d != DOMAIN_ID
    {
        return Err(ApiError::field(
            "domain_id",
            "Ballast has only the default domain",
        ));
    }
    if v.get("enabled").is_some_and(|e| e != &json!(true)) {
        return Err(ApiError::field(
            "enabled",
            "Ballast creates enabled objects only",
        ));
    }
    Ok(())
}

/// The projects (`?name=` filters): an admin's all, anyone else's only the
/// token's own.
#[get("/projects?<name>")]
async fn list_projects(
    state: &State<ApiState>,
    caller: Caller,
    name: Option<&str>,
    base: BaseUrl,
) -> ApiResult<Json<Value>> {
    let scope = caller.scope();
    let name = name.map(str::to_string);
    let projects = state
        .store
        .run(|conn| directory::list_projects(conn))
        .await?;
    let shown: Vec<Value> = projects
        .iter()
        .filter(|p| name.as_ref().is_none_or(|n| *n == p.name))
        .filter(|p| scope.sees(Some(&p.id)))
        .map(|p| project_body(p, &base))
        .collect();
    Ok(Json(json!({"projects": shown, "links": list_links(&base)})))
}

/// A project by id: an admin's any, anyone else's only the token's own
/// (another is absent to them), as Keystone's `identity:get_project` has it
/// (the `openstack` CLI resolves `quota show <project>` this way).
#[get("/projects/<id>")]
async fn show_project(
    state: &State<ApiState>,
    caller: Caller,
    id: &str,
    base: BaseUrl,
) -> ApiResult<Json<Value>> {
    let key = id.to_string();
    let p = state
        .store
        .run(move |conn| directory::get_project(conn, &key))
        .await?
        .filter(|p| caller.scope().sees(Some(&p.id)))
        .ok_or_else(|| ApiError::not_found("project", id))?;
    Ok(Json(json!({"project": project_body(&p, &base)})))
}

#[post("/projects", data = "<body>")]
async fn create_project(
    state: &State<ApiState>,
    body: Body<Value>,
    base: BaseUrl,
) -> ApiResult<(Status, Json<Value>)> {
    let v = wrapped(body, "project")?;
    check_common(&v)?;
    let name = text(&v, "name")?.ok_or_else(|| ApiError::field("name", "is required"))?;
    let description = text(&v, "description")?.unwrap_or_default();
    let p = state
        .store
        .write(move |tx| directory::insert_project(tx, &name, &description))
        .await?;
    info!(project_id = %p.id, name = %p.name, "project created");
    Ok((
        Status::Created,
        Json(json!({"project": project_body(&p, &base)})),
    ))
}

#[get("/users?<name>")]
async fn list_users(
    state: &State<ApiState>,
    name: Option<&str>,
    base: BaseUrl,
) -> ApiResult<Json<Value>> {
    let name = name.map(str::to_string);
    let users = state.store.run(|conn| directory::list_users(conn)).await?;
    let shown: Vec<Value> = users
        .iter()
        .filter(|u| name.as_ref().is_none_or(|n| *n == u.name))
        .map(|u| user_body(u, &base))
        .collect();
    Ok(Json(json!({"users": shown, "links": list_links(&base)})))
}

#[get("/users/<id>")]
async fn show_user(state: &State<ApiState>, id: &str, base: BaseUrl) -> ApiResult<Json<Value>> {
    let key = id.to_string();
    let u = state
        .store
        .run(move |conn| directory::get_user(conn, &key))
        .await?
        .ok_or_else(|| ApiError::not_found("user", id))?;
    Ok(Json(json!({"user": user_body(&u, &base)})))
}

#[post("/users", data = "<body>")]
async fn create_user(
    state: &State<ApiState>,
    body: Body<Value>,
    base: BaseUrl,
) -> ApiResult<(Status, Json<Value>)> {
    let v = wrapped(body, "user")?;
    check_common(&v)?;
    let name = text(&v, "name")?.ok_or_else(|| ApiError::field("name", "is required"))?;
    let project = text(&v, "default_project_id")?;
    let password = text(&v, "password")?;
    let hash = match password {
        Some(p) => Some(
            tokio::task::spawn_blocking(move || hash_secret(&p))
                .await
                .map_err(ApiError::internal)??,
        ),
        None => None,
    };
    let u = state
        .store
        .write(move |tx| directory::insert_user(tx, &name, hash.as_deref(), project.as_deref()))
        .await?;
    info!(user_id = %u.id, name = %u.name, "user created");
    Ok((Status::Created, Json(json!({"user": user_body(&u, &base)}))))
}

#[get("/roles?<name>")]
fn list_roles(name: Option<&str>, base: BaseUrl) -> Json<Value> {
    let roles: Vec<Value> = Role::ALL
        .into_iter()
        .filter(|r| name.is_none_or(|n| n == r.as_str()))
        .map(|r| role_body(r, &base))
        .collect();
    Json(json!({"roles": roles, "links": list_links(&base)}))
}

#[get("/roles/<id>")]
fn show_role(id: &str, base: BaseUrl) -> ApiResult<Json<Value>> {
    let role = Role::from_name(id).ok_or_else(|| ApiError::not_found("role", id))?;
    Ok(Json(json!({"role": role_body(role, &base)})))
}

/// Ballast's roles are fixed: creating one of them is a conflict, any
/// other a refusal naming the three.
#[post("/roles", data = "<body>")]
fn create_role(body: Body<Value>) -> ApiResult<Status> {
    let v = wrapped(body, "role")?;
    let name = text(&v, "name")?.ok_or_else(|| ApiError::field("name", "is required"))?;
    if Role::from_name(&name).is_some() {
        return Err(ApiError::conflict(format!("role {name} already exists")));
    }
    Err(ApiError::field(
        "name",
        "Ballast has exactly the roles admin, member and reader",
    ))
}

/// The project, user and role of an assignment URL, or 404 naming the
/// first unknown one.
async fn assignment(
    state: &ApiState,
    project: &str,
    user: &str,
    role: &str,
) -> ApiResult<(Project, User, Role)> {
    let r = Role::from_name(role).ok_or_else(|| ApiError::not_found("role", role))?;
    let (pk, uk) = (project.to_string(), user.to_string());
    let (p, u) = state
        .store
        .run(move |conn| {
            Ok((
                directory::get_project(conn, &pk)?,
                directory::get_user(conn, &uk)?,
            ))
        })
        .await?;
    let p = p.ok_or_else(|| ApiError::not_found("project", project))?;
    let u = u.ok_or_else(|| ApiError::not_found("user", user))?;
    Ok((p, u, r))
}

#[put("/projects/<project>/users/<user>/roles/<role>")]
async fn grant_role(
    state: &State<ApiState>,
    project: &str,
    user: &str,
    role: &str,
) -> ApiResult<Status> {
    let (p, u, r) = assignment(state, project, user, role).await?;
    let (pid, uid) = (p.id.clone(), u.id.clone());
    state
        .store
        .write(move |tx| directory::grant(tx, &uid, &pid, r))
        .await?;
    info!(user = %u.name, project = %p.name, role = %r, "role granted");
    Ok(Status::NoContent)
}

#[get("/projects/<project>/users/<user>/roles/<role>")]
async fn check_role(
    state: &State<ApiState>,
    project: &str,
    user: &str,
    role: &str,
) -> ApiResult<Status> {
    let (p, u, r) = assignment(state, project, user, role).await?;
    let held = state
        .store
        .run(move |conn| directory::roles_on(conn, &u.id, &p.id))
        .await?;
    if held.contains(&r) {
        Ok(Status::NoContent)
    } else {
        Err(ApiError::not_found("role assignment", role))
    }
}

#[delete("/projects/<project>/users/<user>/roles/<role>")]
async fn revoke_role(
    state: &State<ApiState>,
    project: &str,
    user: &str,
    role: &str,
) -> ApiResult<Status> {
    let (p, u, r) = assignment(state, project, user, role).await?;
    let (pid, uid) = (p.id.clone(), u.id.clone());
    let held = state
        .store
        .write(move |tx| directory::revoke(tx, &uid, &pid, r))
        .await?;
    if !held {
        return Err(ApiError::not_found("role assignment", role));
    }
    info!(user = %u.name, project = %p.name, role = %r, "role revoked");
    Ok(Status::NoContent)
}

#[get("/users/<user>/application_credentials?<name>")]
async fn list_credentials(
    state: &State<ApiState>,
    user: &str,
    name: Option<&str>,
    base: BaseUrl,
) -> ApiResult<Json<Value>> {
    let (uk, name) = (user.to_string(), name.map(str::to_string));
    let creds = state
        .store
        .run(move |conn| store_tokens::list_app_credentials(conn, &uk))
        .await?;
    let shown: Vec<Value> = creds
        .iter()
        .filter(|c| name.as_ref().is_none_or(|n| *n == c.name))
        .map(|c| credential_body(c, &base))
        .collect();
    Ok(Json(
        json!({"application_credentials": shown, "links": list_links(&base)}),
    ))
}

#[get("/users/<user>/application_credentials/<id>")]
async fn show_credential(
    state: &State<ApiState>,
    user: &str,
    id: &str,
    base: BaseUrl,
) -> ApiResult<Json<Value>> {
    let key = id.to_string();
    let c = state
        .store
        .run(move |conn| store_tokens::get_app_credential(conn, &key))
        .await?
        .filter(|c| c.user_id == user)
        .ok_or_else(|| ApiError::not_found("application credential", id))?;
    Ok(Json(
        json!({"application_credential": credential_body(&c, &base)}),
    ))
}

/// Create an application credential for the caller, on the project of the
/// caller's token, with the roles asked for (default: all the caller's).
/// The secret (given, or 64 random hex digits) is shown in this answer only.
#[post("/users/<user>/application_credentials", data = "<body>")]
async fn create_credential(
    state: &State<ApiState>,
    caller: Caller,
    user: &str,
    body: Body<Value>,
    base: BaseUrl,
) -> ApiResult<(Status, Json<Value>)> {
    let me = caller
        .identity()
        .ok_or_else(|| crate::api::auth::unauthorized("X-Auth-Token is missing"))?;
    if me.facts.user_id != user {
        return Err(forbidden(
            "an application credential is created by its own user",
        ));
    }
    if me.facts.application_credential_id.is_some() {
        return Err(forbidden(
            "a token from an application credential cannot make another",
        ));
    }
    let project = me
        .project_id()
        .ok_or_else(|| forbidden("the token must be scoped to a project"))?
        .to_string();
    let v = wrapped(body, "application_credential")?;
    let name = text(&v, "name")?.ok_or_else(|| ApiError::field("name", "is required"))?;
    let description = text(&v, "description")?.unwrap_or_default();
    if v.get("unrestricted").is_some_and(|u| u == &json!(true)) {
        return Err(ApiError::field(
            "unrestricted",
            "Ballast makes restricted credentials only",
        ));
    }
    if v.get("access_rules")
        .is_some_and(|a| a.as_array().is_none_or(|a| !a.is_empty()))
    {
        return Err(ApiError::field("access_rules", "are not supported"));
    }
    if v.get("expires_at").is_some_and(|e| !e.is_null()) {
        return Err(ApiError::field(
            "expires_at",
            "is not supported; delete the credential instead",
        ));
    }
    let held = me.roles.clone();
    // No roles or an empty list (what the CLI sends) means all held ones.
    let roles: Vec<Role> = match v.get("roles").and_then(Value::as_array) {
        None => held.clone(),
        Some(asked) if asked.is_empty() => held.clone(),
        Some(asked) => {
            let mut roles = Vec::new();
            for r in asked {
                let key = r
                    .get("name")
                    .or_else(|| r.get("id"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let role = Role::from_name(key)
                    .filter(|r| held.contains(r))
                    .ok_or_else(|| {
                        ApiError::field("roles", format!("role {key:?} is not held on the project"))
                    })?;
                roles.push(role);
            }
            roles
        }
    };
    let secret = match text(&v, "secret")? {
        Some(s) if !s.is_empty() => s,
        _ => random_hex(32)?,
    };
    let hashed = {
        let s = secret.clone();
        tokio::task::spawn_blocking(move || hash_secret(&s))
            .await
            .map_err(ApiError::internal)??
    };
    let uid = user.to_string();
    let c = state
        .store
        .write(move |tx| {
            store_tokens::insert_app_credential(
                tx,
                &NewAppCredential {
                    user_id: &uid,
                    project_id: &project,
                    name: &name,
                    description: &description,
                    secret_hash: &hashed,
                    roles: &roles,
                    expires_at: None,
                },
            )
        })
        .await?;
    info!(user_id = %c.user_id, project_id = %c.project_id, credential_id = %c.id,
          "application credential created");
    let mut body = credential_body(&c, &base);
    body["secret"] = json!(secret);
    Ok((
        Status::Created,
        Json(json!({"application_credential": body})),
    ))
}

#[delete("/users/<user>/application_credentials/<id>")]
async fn delete_credential(state: &State<ApiState>, user: &str, id: &str) -> ApiResult<Status> {
    let (uk, key) = (user.to_string(), id.to_string());
    let gone = state
        .store
        .write(move |tx| store_tokens::delete_app_credential(tx, &uk, &key))
        .await?;
    if !gone {
        return Err(ApiError::not_found("application credential", id));
    }
    info!(user_id = %user, credential_id = %id, "application credential deleted");
    Ok(Status::NoContent)
}
