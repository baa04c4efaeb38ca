//! `/v1/certificates`: the local stand-in for Barbican TLS containers. A
//! listener's `default_tls_container_id` names one. Responses describe the
//! certificate (subject, SANs, fingerprint, validity); the private key is
//! never shown.

use crate::api::auth::Api;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, post, routes};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::error::{ApiError, ApiResult};
use super::guards::{Body, path_id};
use super::v2::shape::RequestProject;
use super::{lookup, validate};
use crate::model::CertificateId;
use crate::store::{self, certificates::Certificate};

pub fn routes() -> Vec<rocket::Route> {
    routes![list, show, create, remove]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCertificate {
    id: Option<String>,
    name: Option<String>,
    certificate: Option<String>,
    private_key: Option<String>,
    intermediates: Option<String>,
}

/// What the API shows of a certificate.
#[derive(Serialize)]
pub struct CertificateView {
    pub id: CertificateId,
    pub name: Option<String>,
    pub subject: String,
    pub sans: Vec<String>,
    /// SHA-256 of the leaf certificate's DER, hex.
    pub fingerprint: String,
    /// RFC 3339.
    pub not_before: String,
    /// RFC 3339.
    pub expires_at: String,
}

fn leaf_der(pem: &str, field: &str) -> ApiResult<CertificateDer<'static>> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| ApiError::field(field, "must be a PEM certificate"))
}

fn describe(c: &Certificate) -> ApiResult<CertificateView> {
    let der = leaf_der(&c.certificate, "certificate")
        .map_err(|_| ApiError::internal(format!("stored certificate {} does not parse", c.id)))?;
    let (_, x509) = X509Certificate::from_der(&der).map_err(|e| {
        ApiError::field(
            "certificate",
            format!("is not a valid X.509 certificate: {e}"),
        )
    })?;
    let sans = x509
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some(format!("DNS:{d}")),
                    GeneralName::IPAddress(ip) => match ip.len() {
                        4 => Some(format!(
                            "IP:{}",
                            std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*ip).ok()?)
                        )),
                        16 => Some(format!(
                            "IP:{}",
                            std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*ip).ok()?)
                        )),
                        _ => None,
                    },
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der.as_ref());
    let fingerprint = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let validity = x509.validity();
    Ok(CertificateView {
        id: c.id,
        name: c.name.clone(),
        subject: x509.subject().to_string(),
        sans,
        fingerprint,
        not_before: validity.not_before.to_datetime().to_string(),
        expires_at: validity.not_after.to_datetime().to_string(),
    })
}

/// Check that the PEM parses and the key belongs to the certificate.
fn check_material(cert: &str, key: &str, intermediates: Option<&str>) -> ApiResult<()> {
    let der = leaf_der(cert, "certificate")?;
    X509Certificate::from_der(&der).map_err(|e| {
        ApiError::field(
            "certificate",
            format!("is not a valid X.509 certificate: {e}"),
        )
    })?;
    if let Some(inter) = intermediates {
        let all: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(inter.as_bytes()).collect();
        if all.map(|v| v.is_empty()).unwrap_or(true) {
            return Err(ApiError::field("intermediates", "must be PEM certificates"));
        }
    }
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
        .map_err(|_| ApiError::field("private_key", "must be a PEM private key"))?;
    let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
        .map_err(|_| ApiError::field("private_key", "is not a supported key type"))?;
    let certified = rustls::sign::CertifiedKey::new(vec![der], signing);
    certified
        .keys_match()
        .map_err(|_| ApiError::field("private_key", "does not match the certificate"))
}

#[get("/certificates")]
async fn list(state: Api<'_>) -> ApiResult<Json<Vec<CertificateView>>> {
    state
        .read(|conn| {
            let certs = store::certificates::list(conn)?;
            Ok(Json(
                certs
                    .iter()
                    .filter(|c| lookup::certificate_visible(c))
                    .map(describe)
                    .collect::<ApiResult<_>>()?,
            ))
        })
        .await
}

#[get("/certificates/<id>")]
async fn show(state: Api<'_>, id: &str) -> ApiResult<Json<CertificateView>> {
    let id: CertificateId = path_id("certificate", id)?;
    state
        .read(move |conn| {
            let c = lookup::certificate(conn, id)?
                .ok_or_else(|| ApiError::not_found("certificate", id))?;
            Ok(Json(describe(&c)?))
        })
        .await
}

#[post("/certificates", data = "<body>")]
async fn create(
    state: Api<'_>,
    body: Body<CreateCertificate>,
    project: RequestProject,
) -> ApiResult<(Status, Json<CertificateView>)> {
    let req = body.into_inner()?;
    let id: Option<CertificateId> = validate::id("id", req.id)?;
    let name = validate::text("name", req.name)?;
    let certificate = req
        .certificate
        .ok_or_else(|| ApiError::field("certificate", "is required"))?;
    let private_key = req
        .private_key
        .ok_or_else(|| ApiError::field("private_key", "is required"))?;
    check_material(&certificate, &private_key, req.intermediates.as_deref())?;
    let cert = Certificate {
        id: id.unwrap_or_default(),
        name,
        certificate,
        private_key,
        intermediates: req.intermediates,
        // The caller's project (none without identity).
        project_id: project.owner(None)?,
    };
    let view = describe(&cert)?;
    state
        .write(move |tx| {
            if store::certificates::get(tx, cert.id)?.is_some() {
                return Err(ApiError::conflict(format!(
                    "certificate {} already exists",
                    cert.id
                )));
            }
            store::certificates::insert(tx, &cert)?;
            Ok(())
        })
        .await?;
    Ok((Status::Accepted, Json(view)))
}

#[delete("/certificates/<id>")]
async fn remove(state: Api<'_>, id: &str) -> ApiResult<Status> {
    let id: CertificateId = path_id("certificate", id)?;
    state
        .write(move |tx| {
            lookup::certificate(tx, id)?.ok_or_else(|| ApiError::not_found("certificate", id))?;
            if store::listeners::uses_certificate(tx, id)? {
                return Err(ApiError::conflict(format!(
                    "certificate {id} is in use by a listener"
                )));
            }
            store::certificates::delete(tx, id)?;
            Ok(())
        })
        .await?;
    Ok(Status::Accepted)
}
