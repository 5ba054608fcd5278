//! Finishing touches on the OpenAPI document: the bearer scheme, the error responses every
//! operation can give (so the document lists every status the server really sends), a
//! description on every response and an explicit `security: []` on the public operations, so
//! validators, linters and client generators accept it (scripts/openapi-check.sh).

use axum::http::StatusCode;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

/// Declares `bearer` (JWT) authentication.
pub struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// Error statuses and what they mean, added to operations that can answer them.
const COMMON_ERRORS: &[(&str, &str)] = &[
    ("400", "Malformed request (bad JSON, missing or invalid Idempotency-Key)"),
    ("413", "Request body too large"),
    ("415", "Body is not JSON"),
    ("422", "Validation failed"),
    ("429", "Rate limited; see Retry-After"),
    ("500", "Internal error"),
    ("503", "A dependency is unavailable or the request timed out"),
];
const AUTH_ERRORS: &[(&str, &str)] =
    &[("401", "Missing, invalid, expired or revoked token"), ("403", "Wrong role or missing permission")];
const LOOKUP_ERRORS: &[(&str, &str)] =
    &[("404", "Not found, or not visible to the caller"), ("405", "Method not allowed")];
/// Every operation that takes an `Idempotency-Key` can meet a reused key, a concurrent duplicate
/// or a business rule that refuses it (stored and replayed like a success).
const IDEMPOTENT_ERRORS: &[(&str, &str)] = &[(
    "409",
    "IDEMPOTENCY_KEY_REUSED, IDEMPOTENCY_IN_PROGRESS, or a business rule refused the operation (see the code)",
)];

/// Everything this module adds, in order: public operations declared, error responses, descriptions.
pub fn finish(openapi: &mut OpenApi) {
    declare_public_operations(openapi);
    add_error_responses(openapi);
    describe_responses(openapi);
}

fn operations(openapi: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
    })
}

/// An operation that names no security scheme takes no token: say so with `security: []`, as
/// OpenAPI linters require (an absent declaration reads as "unknown").
fn declare_public_operations(openapi: &mut OpenApi) {
    for operation in operations(openapi) {
        operation.security.get_or_insert_with(Vec::new);
    }
}

/// Gives every response without one the standard description of its status (OpenAPI requires a
/// description on every response object).
fn describe_responses(openapi: &mut OpenApi) {
    for operation in operations(openapi) {
        for (status, response) in operation.responses.responses.iter_mut() {
            if let RefOr::T(response) = response
                && response.description.is_empty()
            {
                let reason = status.parse::<u16>().ok().and_then(|s| StatusCode::from_u16(s).ok());
                response.description = reason.and_then(|s| s.canonical_reason()).unwrap_or("Response").to_owned();
            }
        }
    }
}

/// Adds the error envelope responses to every operation.
fn add_error_responses(openapi: &mut OpenApi) {
    for operation in operations(openapi) {
        let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
        let mut errors: Vec<(&str, &str)> = COMMON_ERRORS.to_vec();
        errors.extend_from_slice(LOOKUP_ERRORS);
        if secured {
            errors.extend_from_slice(AUTH_ERRORS);
        }
        if takes_idempotency_key(operation) {
            errors.extend_from_slice(IDEMPOTENT_ERRORS);
        }
        add_errors(operation, &errors);
    }
}

fn takes_idempotency_key(operation: &Operation) -> bool {
    operation.parameters.iter().flatten().any(|p| match p {
        RefOr::T(parameter) => parameter.name.eq_ignore_ascii_case("Idempotency-Key"),
        RefOr::Ref(_) => false,
    })
}

fn add_errors(operation: &mut Operation, errors: &[(&str, &str)]) {
    for (status, description) in errors {
        if operation.responses.responses.contains_key(*status) {
            continue;
        }
        let response = ResponseBuilder::new()
            .description(*description)
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorEnvelope"))).build(),
            )
            .build();
        operation.responses.responses.insert((*status).to_owned(), response.into());
    }
}
