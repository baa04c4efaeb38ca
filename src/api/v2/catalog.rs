//! What an Octavia deployment lists besides load balancers and their
//! children: providers (Ballast is one, `ballast`), flavors, flavor
//! profiles, availability zones, availability zone profiles and amphorae.
//! Ballast has none of the others, so their lists are honestly empty and a
//! GET of one is 404; it never pretends to create them (a write is 405).

use rocket::serde::json::Json;
use rocket::{get, routes};
use serde_json::{Value, json};

use super::list::{QueryPairs, select_fields};
use super::shape::PROVIDER;
use crate::api::error::{ApiError, ApiResult};

/// Every route here, for mounting under `/v2` and `/v2.0`.
pub fn routes() -> Vec<rocket::Route> {
    routes![
        providers,
        flavor_capabilities,
        availability_zone_capabilities,
        flavors,
        flavor,
        flavor_profiles,
        flavor_profile,
        availability_zones,
        availability_zone,
        availability_zone_profiles,
        availability_zone_profile,
        amphorae,
        amphora
    ]
}

/// The provider `name`, or Octavia's 400 for one that is not enabled.
fn known_provider(name: &str) -> ApiResult<()> {
    if name == PROVIDER {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Provider '{name}' is not enabled."
        )))
    }
}

/// `GET /lbaas/providers`: the one provider, cut to `fields` when asked.
#[get("/lbaas/providers")]
fn providers(query: QueryPairs) -> Json<Value> {
    let mut provider = serde_json::Map::new();
    provider.insert("name".into(), PROVIDER.into());
    provider.insert(
        "description".into(),
        "Ballast: load balancers on this host, in one process".into(),
    );
    select_fields(&mut provider, &query);
    Json(json!({ "providers": [provider] }))
}

/// Ballast takes no flavor metadata: its capability list is empty.
#[get("/lbaas/providers/<provider>/flavor_capabilities")]
fn flavor_capabilities(provider: &str) -> ApiResult<Json<Value>> {
    known_provider(provider)?;
    Ok(Json(json!({ "flavor_capabilities": [] })))
}

/// Ballast takes no availability zone metadata: the list is empty.
#[get("/lbaas/providers/<provider>/availability_zone_capabilities")]
fn availability_zone_capabilities(provider: &str) -> ApiResult<Json<Value>> {
    known_provider(provider)?;
    Ok(Json(json!({ "availability_zone_capabilities": [] })))
}

/// An empty list body `{"<key>": [], "<key>_links": []}`. Filters and
/// pagination arguments select from nothing, so any of them is answered
/// with the same empty page.
fn empty(key: &str) -> Json<Value> {
    Json(json!({ key: [], format!("{key}_links"): [] }))
}

#[get("/lbaas/flavors")]
fn flavors() -> Json<Value> {
    empty("flavors")
}

#[get("/lbaas/flavors/<id>")]
fn flavor(id: &str) -> ApiError {
    ApiError::not_found("Flavor", id)
}

#[get("/lbaas/flavorprofiles")]
fn flavor_profiles() -> Json<Value> {
    empty("flavorprofiles")
}

#[get("/lbaas/flavorprofiles/<id>")]
fn flavor_profile(id: &str) -> ApiError {
    ApiError::not_found("Flavor profile", id)
}

#[get("/lbaas/availabilityzones")]
fn availability_zones() -> Json<Value> {
    empty("availability_zones")
}

#[get("/lbaas/availabilityzones/<name>")]
fn availability_zone(name: &str) -> ApiError {
    ApiError::not_found("Availability zone", name)
}

#[get("/lbaas/availabilityzoneprofiles")]
fn availability_zone_profiles() -> Json<Value> {
    empty("availability_zone_profiles")
}

#[get("/lbaas/availabilityzoneprofiles/<id>")]
fn availability_zone_profile(id: &str) -> ApiError {
    ApiError::not_found("Availability zone profile", id)
}

/// Ballast runs no amphorae: its load balancers live in its own process.
#[get("/octavia/amphorae")]
fn amphorae() -> Json<Value> {
    empty("amphorae")
}

#[get("/octavia/amphorae/<id>")]
fn amphora(id: &str) -> ApiError {
    ApiError::not_found("Amphora", id)
}
