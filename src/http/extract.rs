//! Extractors whose rejections are our own `ApiError`, so malformed JSON, bad query strings and
//! bad path parameters answer in the normal envelope with a message a person can act on.

use axum::body::{Body, Bytes};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ErrorCode};

/// JSON body extractor and responder.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct AppJson<T>(pub T);

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
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct AppQuery<T>(pub T);

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        let text = rejection.body_text();
        ApiError::new(ErrorCode::ValidationFailed, text.clone())
            .with_details(serde_json::json!({ "fields": { "query": text } }))
    }
}

/// Path-parameter extractor.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct AppPath<T>(pub T);

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

/// For `#[serde(default, deserialize_with = "present")]` on an `Option<Option<T>>` field of a
/// partial update: absent is `None`, `null` is `Some(None)`, a value is `Some(Some(value))`.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}
