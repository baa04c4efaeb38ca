//! Field validation shared by the request types; every message names the
//! field, as `field: reason`. [`all_valid!`](crate::all_valid) checks a
//! body's fields together, so one fault lists every invalid one.

use std::str::FromStr;

use super::error::{ApiError, ApiResult};
use crate::model::UnknownValue;

/// Check several fields at once: `all_valid!(a = check_a, b = check_b)`
/// is `Ok((a, b))` when every check passed, else one fault listing every
/// failed field in the order given (see [`ApiError::combine`]). Each check
/// is an `ApiResult` of its own, evaluated whatever the others gave.
#[macro_export]
macro_rules! all_valid {
    ($($name:ident = $check:expr),+ $(,)?) => {
        match ($($check,)+) {
            ($(Ok($name),)+) => Ok(($($name,)+)),
            ($($name,)+) => Err($crate::api::validate::failed(vec![$($name.err()),+])),
        }
    };
}

/// The one fault for the checks that failed; a call with none failed is a
/// broken [`all_valid!`] and answers 500 rather than pass the body.
pub fn failed(results: Vec<Option<ApiError>>) -> ApiError {
    ApiError::combine(results.into_iter().flatten().collect())
        .unwrap_or_else(|| ApiError::internal("all_valid! found no failed check"))
}

/// A field the request must carry.
pub fn required<T>(field: &str, value: Option<T>) -> ApiResult<T> {
    value.ok_or_else(|| ApiError::field(field, "is required"))
}

/// An IP address given as text.
pub fn ip(field: &str, value: &str) -> ApiResult<std::net::IpAddr> {
    value
        .parse()
        .map_err(|_| ApiError::field(field, "must be an IP address"))
}

/// An optional value checked by `check` when present.
pub fn optional<T, U>(
    value: Option<T>,
    check: impl FnOnce(T) -> ApiResult<U>,
) -> ApiResult<Option<U>> {
    value.map(check).transpose()
}

/// Longest name, description or tenant id accepted.
pub const MAX_TEXT: usize = 255;

/// A name, description or tenant id: at most 255 characters, no NUL (it
/// would cut the text short in C tools and logs reading it back).
pub fn text(field: &str, value: Option<String>) -> ApiResult<Option<String>> {
    match value {
        Some(v) if v.contains('\0') => {
            Err(ApiError::field(field, "must not contain NUL characters"))
        }
        Some(v) if v.chars().count() > MAX_TEXT => Err(ApiError::field(
            field,
            format!("must be at most {MAX_TEXT} characters"),
        )),
        other => Ok(other),
    }
}

/// A TCP port number 1..65535.
pub fn port(field: &str, value: i64) -> ApiResult<u16> {
    u16::try_from(value)
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| ApiError::field(field, "must be an integer 1..65535"))
}

/// An integer in `min..=max`.
pub fn range(field: &str, value: i64, min: i64, max: i64) -> ApiResult<u32> {
    if (min..=max).contains(&value) {
        Ok(value as u32)
    } else {
        Err(ApiError::field(
            field,
            format!("must be an integer {min}..{max}"),
        ))
    }
}

/// One of an enum's API values.
pub fn choice<T: FromStr<Err = UnknownValue>>(field: &str, value: &str) -> ApiResult<T> {
    value
        .parse()
        .map_err(|e: UnknownValue| ApiError::field(field, e))
}

/// A client-supplied id: a UUID.
pub fn id<T: FromStr>(field: &str, value: Option<String>) -> ApiResult<Option<T>> {
    value
        .map(|v| {
            v.parse::<T>()
                .map_err(|_| ApiError::field(field, "must be a UUID"))
        })
        .transpose()
}

/// `connection_limit`: -1 or null is unlimited (None), else >= 1.
pub fn connection_limit(value: Option<i64>) -> ApiResult<Option<u32>> {
    match value {
        None | Some(-1) => Ok(None),
        Some(n) if (1..=i64::from(u32::MAX)).contains(&n) => Ok(Some(n as u32)),
        Some(_) => Err(ApiError::field(
            "connection_limit",
            "must be -1 or null (unlimited) or an integer >= 1",
        )),
    }
}

/// An HTTP cookie name: a non-empty RFC 6265 token.
pub fn cookie_name(value: &str) -> ApiResult<()> {
    let token = |c: char| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c);
    if value.is_empty() || value.len() > MAX_TEXT || !value.chars().all(token) {
        return Err(ApiError::field(
            "session_persistence.cookie_name",
            "must be a valid cookie name (an RFC 6265 token)",
        ));
    }
    Ok(())
}
