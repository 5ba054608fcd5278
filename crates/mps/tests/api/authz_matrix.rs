//! The authorization matrix: every route the server documents — read from the OpenAPI document
//! at run time, so routes added later are covered without touching this file — called
//! anonymously and with a member, a merchant and an admin token.
//!
//! Who may call a route follows from its path: `/member/…` members, `/merchant/…` merchants,
//! `/admin/…` admins, `/auth/…` and `/transactions/…` any logged-in caller; a short list is public.

use axum::http::Method;

use crate::helpers::{Client, TestApp, TestResponse};

/// Routes anyone may call without a token.
const PUBLIC: &[&str] = &[
    "/auth/login",
    "/auth/otp",
    "/auth/register",
    "/auth/password/reset",
    "/auth/wechat",
    "/health",
    "/ready",
    "/metrics",
    "/openapi.json",
    "/levels",
    "/webhooks/payments",
];

/// Who a route is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    Public,
    AnyRole,
    Only(&'static str),
}

fn audience(template: &str) -> Audience {
    if PUBLIC.contains(&template) {
        return Audience::Public;
    }
    for role in ["member", "merchant", "admin"] {
        if template.starts_with(&format!("/{role}/")) || template == format!("/{role}") {
            return Audience::Only(role);
        }
    }
    if template.starts_with("/auth/") || template.starts_with("/transactions/") {
        return Audience::AnyRole;
    }
    panic!("no authorization rule for {template}: give it a role prefix or add it to this matrix");
}

/// One operation of the document, its path parameters replaced by a random UUID.
#[derive(Debug)]
struct Operation {
    method: Method,
    template: String,
    path: String,
    secured: bool,
}

impl Operation {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.template)
    }
}

fn fill_parameters(template: &str) -> String {
    let mut path = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').map(|e| start + e).expect("parameters are closed");
        path.push_str(&rest[..start]);
        path.push_str(&uuid::Uuid::new_v4().to_string());
        rest = &rest[end + 1..];
    }
    path.push_str(rest);
    path
}

/// The keys of an OpenAPI path item that are operations (the others are `parameters`, …).
const HTTP_METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn documented_operations() -> Vec<Operation> {
    let document = serde_json::to_value(mps::http::openapi()).expect("the document serialises");
    let paths = document["paths"].as_object().expect("the document has paths");
    let mut operations = Vec::new();
    for (template, item) in paths {
        for (method, operation) in item.as_object().expect("path items are objects") {
            if !HTTP_METHODS.contains(&method.as_str()) {
                continue;
            }
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a valid method");
            let secured = operation["security"].as_array().is_some_and(|s| !s.is_empty());
            operations.push(Operation { method, template: template.clone(), path: fill_parameters(template), secured });
        }
    }
    operations
}

async fn call_anonymously(app: &TestApp, operation: &Operation) -> TestResponse {
    app.call(operation.method.clone(), &operation.path, None, &[]).await
}

#[tokio::test]
async fn the_matrix_covers_the_routes_of_this_issue() {
    let names: Vec<String> = documented_operations().iter().map(Operation::name).collect();
    for expected in [
        "GET /admin/members",
        "PATCH /admin/members/{id_or_no}",
        "POST /admin/members/{id_or_no}/suspend",
        "POST /admin/merchants/{id_or_code}/password",
        "POST /auth/logout",
        "POST /auth/otp",
        "POST /auth/register",
        "POST /auth/password/reset",
        "POST /auth/wechat",
        "GET /member/identities",
        "DELETE /member/identities/{identity_id}",
        "GET /health",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} is documented; the document has {names:?}");
    }
}

#[tokio::test]
async fn secured_routes_and_public_routes_are_exactly_the_intended_ones() {
    let wrong: Vec<String> = documented_operations()
        .iter()
        .filter(|op| op.secured == (audience(&op.template) == Audience::Public))
        .map(|op| format!("{} declares security: {}", op.name(), op.secured))
        .collect();
    assert!(wrong.is_empty(), "only the public routes may go without `security`:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn anonymous_callers_get_401_on_every_secured_route_and_never_on_public_ones() {
    let app = TestApp::with_vars(&[("RATE_LIMIT_REQUESTS", "100000"), ("LOGIN_IP_RATE_LIMIT", "100000")]).await;
    let mut wrong = Vec::new();
    for operation in documented_operations() {
        let response = call_anonymously(&app, &operation).await;
        let unauthenticated = response.status == 401 && response.error_code() == "UNAUTHENTICATED";
        if operation.secured != unauthenticated || response.status == 403 {
            wrong.push(format!("{} → {} {}", operation.name(), response.status, response.text));
        }
    }
    assert!(wrong.is_empty(), "anonymous calls answered wrongly:\n{}", wrong.join("\n"));
}

/// Calls a route as `client`; a route that ends the session (logout) gets a throwaway login.
async fn call_as<'a>(
    app: &'a TestApp,
    client: &Client<'a>,
    login: (&str, &str),
    operation: &Operation,
) -> TestResponse {
    if operation.template == "/auth/logout" {
        let throwaway = app.client(login.0, login.1, crate::helpers::PASSWORD).await;
        return throwaway.call(operation.method.clone(), &operation.path, None, &[]).await;
    }
    client.call(operation.method.clone(), &operation.path, None, &[]).await
}

#[tokio::test]
async fn each_role_is_refused_403_on_the_routes_of_other_roles_and_let_through_on_its_own() {
    let app = TestApp::with_vars(&[("RATE_LIMIT_REQUESTS", "100000"), ("LOGIN_IP_RATE_LIMIT", "100000")]).await;
    let admin = app.admin().await;
    let member = admin.create_member("Matrix Member").await;
    let merchant = admin.create_merchant("Matrix Shop").await;
    let admin_email: String =
        sqlx::query_scalar("SELECT email FROM admins WHERE id = $1").bind(admin.id).fetch_one(&app.pool).await.unwrap();
    let member_client = app.member_client(&member).await;
    let merchant_client = app.merchant_client(&merchant).await;
    let callers = [
        ("member", &member_client, member.phone.as_str()),
        ("merchant", &merchant_client, merchant.code.as_str()),
        ("admin", &admin, admin_email.as_str()),
    ];

    let mut wrong = Vec::new();
    let mut checked = 0;
    for operation in documented_operations() {
        let audience = audience(&operation.template);
        if audience == Audience::Public {
            continue;
        }
        for (role, client, identifier) in &callers {
            let response = call_as(&app, client, (role, identifier), &operation).await;
            let allowed = match audience {
                Audience::Only(owner) => owner == *role,
                _ => true,
            };
            let ok = if allowed {
                response.status != 401 && response.status != 403
            } else {
                response.status == 403 && response.error_code() == "FORBIDDEN"
            };
            if !ok {
                let expected = if allowed { "anything but 401/403" } else { "403 FORBIDDEN" };
                wrong.push(format!(
                    "{role} {}: expected {expected}, got {} {}",
                    operation.name(),
                    response.status,
                    response.text
                ));
            }
            checked += 1;
        }
    }
    assert!(checked >= 3 * 12, "the matrix checked only {checked} calls");
    assert!(wrong.is_empty(), "role checks answered wrongly:\n{}", wrong.join("\n"));
    for (role, client, _) in &callers {
        assert_eq!(client.get("/auth/me").await.status, 200, "the {role} session survived the walk");
    }
}

/// Who may call each merchant route (issue 18): `O` owner (the merchant's own credentials, or
/// staff with role owner), `M` manager, `C` cashier, `K` a POS key holding every scope
/// (`charge`, `refund`, `read`). The same table is in docs/merchants.md.
const MERCHANT_TABLE: &[(&str, &str)] = &[
    ("POST /merchant/charge", "OMCK"),
    ("POST /merchant/refund", "OMCK"),
    ("POST /merchant/recharge", "OMC"),
    ("POST /merchant/qr/validate", "OMCK"),
    ("GET /merchant/transactions", "OMK"),
    ("GET /merchant/daily-summary", "OMK"),
    ("GET /merchant/settlements", "OMK"),
    ("GET /merchant/settlements/{id}", "OMK"),
    ("POST /merchant/settlements", "O"),
    ("GET /merchant/statements", "OM"),
    ("GET /merchant/webhooks", "O"),
    ("POST /merchant/webhooks", "O"),
    ("GET /merchant/webhooks/{id}", "O"),
    ("GET /merchant/webhooks/{id}/deliveries", "O"),
    ("POST /merchant/webhooks/{id}/disable", "O"),
    ("POST /merchant/webhooks/{id}/redeliver", "O"),
    ("POST /merchant/webhooks/{id}/rotate-secret", "O"),
    ("GET /merchant/stores", "OMK"),
    ("POST /merchant/stores", "O"),
    ("PATCH /merchant/stores/{store_id}", "O"),
    ("GET /merchant/settings", "O"),
    ("PUT /merchant/settings", "O"),
    ("GET /merchant/staff", "OM"),
    ("POST /merchant/staff", "OM"),
    ("GET /merchant/staff/{staff_id}", "OM"),
    ("PATCH /merchant/staff/{staff_id}", "OM"),
    ("POST /merchant/staff/{staff_id}/suspend", "OM"),
    ("POST /merchant/staff/{staff_id}/activate", "OM"),
    ("POST /merchant/staff/{staff_id}/password", "OM"),
    ("GET /merchant/keys", "O"),
    ("POST /merchant/keys", "O"),
    ("GET /merchant/keys/{key_id}", "O"),
    ("POST /merchant/keys/{key_id}/revoke", "O"),
    ("POST /merchant/keys/{key_id}/rotate", "O"),
];

#[tokio::test]
async fn every_merchant_route_lets_exactly_the_roles_of_the_permission_table_through() {
    let app = TestApp::with_vars(&[("RATE_LIMIT_REQUESTS", "100000"), ("LOGIN_IP_RATE_LIMIT", "100000")]).await;
    let admin = app.admin().await;
    let merchant = admin.create_merchant("Matrix Shop").await;
    let owner = app.merchant_client(&merchant).await;
    let mut callers = vec![('O', Client { app: &app, token: owner.token.clone(), id: owner.id })];
    for (letter, role) in [('M', "manager"), ('C', "cashier")] {
        let body = serde_json::json!({ "username": role, "name": role, "role": role,
                                       "password": crate::helpers::PASSWORD });
        assert_eq!(owner.post("/merchant/staff", body).await.status, 201);
        let login = serde_json::json!({ "role": "merchant", "identifier": merchant.code, "username": role,
                                        "password": crate::helpers::PASSWORD });
        let response = app.call(Method::POST, "/auth/login", Some(login), &[]).await;
        assert_eq!(response.status, 200, "{}", response.text);
        callers
            .push((letter, Client { app: &app, token: response.json["token"].as_str().unwrap().into(), id: owner.id }));
    }
    let key_body = serde_json::json!({ "name": "Till", "store": "MAIN", "permissions": ["charge", "refund", "read"] });
    let key = owner.post("/merchant/keys", key_body).await;
    assert_eq!(key.status, 201, "{}", key.text);
    callers.push(('K', Client { app: &app, token: key.json["secret"].as_str().unwrap().into(), id: owner.id }));

    let mut wrong = Vec::new();
    let mut checked = 0;
    for operation in documented_operations() {
        if audience(&operation.template) != Audience::Only("merchant") {
            continue;
        }
        let name = operation.name();
        let Some((_, allowed)) = MERCHANT_TABLE.iter().find(|(route, _)| *route == name) else {
            wrong.push(format!("{name} is missing from MERCHANT_TABLE (and docs/merchants.md)"));
            continue;
        };
        for (letter, client) in &callers {
            let response = client.call(operation.method.clone(), &operation.path, None, &[]).await;
            let ok = if allowed.contains(*letter) {
                response.status != 401 && response.status != 403
            } else {
                response.status == 403 && response.error_code() == "FORBIDDEN"
            };
            if !ok {
                wrong.push(format!("{letter} {name}: allowed {allowed}, got {} {}", response.status, response.text));
            }
            checked += 1;
        }
    }
    assert!(checked >= 4 * MERCHANT_TABLE.len(), "the matrix checked only {checked} calls");
    assert!(wrong.is_empty(), "merchant-side permissions answered wrongly:\n{}", wrong.join("\n"));
}

/// The reads a store-restricted caller (a store manager `m`, a store's POS key with `read` `k`)
/// may make of its own store only: `?store=` of another store is 403 `STORE_NOT_ALLOWED`, while
/// the owner `O` and an unrestricted manager `M` read any store. `{id}` is a settlement.
const STORE_SCOPED_READS: &[(&str, &str)] = &[
    ("/merchant/transactions?store=B", "OMmk"),
    ("/merchant/daily-summary?store=B", "OMmk"),
    ("/merchant/settlements?store=B", "OMmk"),
    ("/merchant/settlements/{id}?store=B", "OMmk"),
    ("/merchant/statements?from=2024-01-01&to=2024-01-02&store=B", "OMm"),
];

#[tokio::test]
async fn store_restricted_callers_read_only_their_store_and_another_is_403_store_not_allowed() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let merchant = admin.create_merchant("Two Store Shop").await;
    let owner = app.merchant_client(&merchant).await;
    for code in ["A", "B"] {
        assert_eq!(owner.post("/merchant/stores", serde_json::json!({ "code": code, "name": code })).await.status, 201);
    }
    let period = serde_json::json!({ "mode": "realtime", "period_start": "2024-01-01T00:00:00Z",
                                      "period_end": "2024-01-02T00:00:00Z" });
    let settlement = owner.post("/merchant/settlements", period).await;
    assert_eq!(settlement.status, 201, "{}", settlement.text);
    let settlement_id = settlement.json["id"].as_str().unwrap().to_owned();
    let mut callers = vec![('O', Client { app: &app, token: owner.token.clone(), id: owner.id })];
    for (letter, username, store) in [('M', "max", None), ('m', "amy", Some("A"))] {
        let body = serde_json::json!({ "username": username, "name": username, "role": "manager", "store": store,
                                       "password": crate::helpers::PASSWORD });
        assert_eq!(owner.post("/merchant/staff", body).await.status, 201);
        let login = serde_json::json!({ "role": "merchant", "identifier": merchant.code, "username": username,
                                        "password": crate::helpers::PASSWORD });
        let response = app.call(Method::POST, "/auth/login", Some(login), &[]).await;
        assert_eq!(response.status, 200, "{}", response.text);
        callers
            .push((letter, Client { app: &app, token: response.json["token"].as_str().unwrap().into(), id: owner.id }));
    }
    let key = owner
        .post("/merchant/keys", serde_json::json!({ "name": "Till A", "store": "A", "permissions": ["read"] }))
        .await;
    assert_eq!(key.status, 201, "{}", key.text);
    callers.push(('k', Client { app: &app, token: key.json["secret"].as_str().unwrap().into(), id: owner.id }));

    let mut wrong = Vec::new();
    for (template, allowed) in STORE_SCOPED_READS {
        let path = template.replace("{id}", &settlement_id);
        for (letter, client) in &callers {
            let other = client.get(&path).await;
            let own = client.get(&path.replace("store=B", "store=A")).await;
            let unnamed = client.get(&path.replace("&store=B", "").replace("?store=B", "")).await;
            let restricted = letter.is_lowercase();
            let ok = if !allowed.contains(*letter) {
                other.status == 403 && other.error_code() == "FORBIDDEN"
            } else if restricted {
                other.status == 403
                    && other.error_code() == "STORE_NOT_ALLOWED"
                    && own.status == 200
                    && unnamed.status == 200
            } else {
                other.status == 200 && own.status == 200 && unnamed.status == 200
            };
            if !ok {
                wrong.push(format!(
                    "{letter} {path}: allowed {allowed}; other store {} {}, own {} {}, unnamed {}",
                    other.status, other.text, own.status, own.text, unnamed.status
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "store-scoped reads answered wrongly:\n{}", wrong.join("\n"));
}
