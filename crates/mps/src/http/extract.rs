//! Extractors whose rejections are our own `ApiError`, so malformed JSON, bad query strings and
//! bad path parameters answer in the normal envelope with a message a person can act on.
//!
//! One rule holds for all input they parse: no string, object key or parameter holds a NUL
//! character. PostgreSQL can store none in `text` or `jsonb`, so letting one through turned a
//! client's mistake into a 500; here it is a 422 `VALIDATION_FAILED` naming the field.

use axum::body::{Body, Bytes};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

use mps_api::error::ErrorCode;

use crate::error::ApiError;

/// JSON body extractor and responder.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // axum's own checks first (content type, size, syntax), then ours, then the shape.
        let axum::Json(raw) = axum::Json::<Box<RawValue>>::from_request(request, state).await?;
        let value: Value =
            serde_json::from_str(raw.get()).map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
        reject_nul(&value)?;
        let axum::Json(body) = axum::Json::<T>::from_bytes(raw.get().as_bytes())?;
        Ok(AppJson(body))
    }
}

/// Refuses a JSON value holding a NUL character in any string or object key, naming the first
/// such field (`tag`, `levels[0].name`, …).
pub fn reject_nul(value: &Value) -> Result<(), ApiError> {
    match nul_field(value, String::new()) {
        None => Ok(()),
        Some(field) => {
            let field = if field.is_empty() { "body".to_owned() } else { field };
            Err(ApiError::validation(&field, "must not contain the NUL character (\\u0000)"))
        }
    }
}

fn nul_field(value: &Value, path: String) -> Option<String> {
    match value {
        Value::String(text) => text.contains('\0').then_some(path),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| nul_field(item, format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                // A key cannot name itself: the object holding it is the field.
                return Some(path.clone());
            }
            nul_field(item, if path.is_empty() { key.clone() } else { format!("{path}.{key}") })
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

/// Refuses a query string or path holding an encoded NUL (`%00`): `field` names which.
fn reject_encoded_nul(raw: Option<&str>, field: &str) -> Result<(), ApiError> {
    if raw.is_some_and(|text| text.contains("%00")) {
        return Err(ApiError::validation(field, "must not contain the NUL character (%00)"));
    }
    Ok(())
}

impl<T: serde::Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::from_code(ErrorCode::UnsupportedMediaType),
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::new(ErrorCode::BadRequest, format!("The body is not valid JSON: {}", e.body_text()))
            }
            JsonRejection::JsonDataError(e) => ApiError::new(ErrorCode::ValidationFailed, e.body_text())
                .with_details(serde_json::json!({ "fields": { "body": e.body_text() } })),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::from_code(ErrorCode::PayloadTooLarge),
            other => ApiError::new(ErrorCode::BadRequest, other.body_text()),
        }
    }
}

/// Query-string extractor.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        reject_encoded_nul(parts.uri.query(), "query")?;
        let axum::extract::Query(query) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(AppQuery(query))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        let text = rejection.body_text();
        ApiError::new(ErrorCode::ValidationFailed, text.clone())
            .with_details(serde_json::json!({ "fields": { "query": text } }))
    }
}

/// Path-parameter extractor.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppPath<T>(pub T);

impl<S, T> FromRequestParts<S> for AppPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        reject_encoded_nul(Some(parts.uri.path()), "path")?;
        let axum::extract::Path(path) = axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(AppPath(path))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        let text = rejection.body_text();
        ApiError::new(ErrorCode::ValidationFailed, text.clone())
            .with_details(serde_json::json!({ "fields": { "path": text } }))
    }
}

/// A JSON body that may be left out: no body (or only whitespace) is `T::default()`; a body
/// present is read exactly as [`AppJson`] reads one. For action endpoints (suspend, freeze, …)
/// whose body is none, `{}` or `{"reason": "…"}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|e| ApiError::from(JsonRejection::from(e)))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        let AppJson(value) = AppJson::<T>::from_request(Request::from_parts(parts, Body::from(bytes)), state).await?;
        Ok(OptionalJson(value))
    }
}
