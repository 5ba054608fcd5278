//! Bad input that used to reach the database as a 500 (issue 13 §8): NUL characters anywhere in
//! what the API parses, and amounts with surrounding whitespace.

use axum::body::Body;
use axum::http::{Method, Request};
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{TestApp, TestResponse, new_key};

const WEBHOOK_SECRET: &str = "webhook-test-secret-0123456789abcdefXYZ";
const NUL_TEXT: &str = "a\u{0}b";

#[tokio::test]
async fn a_nul_in_a_login_identifier_is_a_422_for_every_role_not_a_500() {
    let app = TestApp::new().await;
    for role in ["member", "merchant", "admin"] {
        let response = app.login(role, NUL_TEXT, "x").await;
        response.assert_error(422, "VALIDATION_FAILED");
        assert_eq!(
            response.json["error"]["details"]["fields"]["identifier"].as_str().map(|m| m.contains("NUL")),
            Some(true)
        );
    }
}

#[tokio::test]
async fn a_nul_in_a_charge_or_refund_tag_value_or_key_is_a_422_and_charges_nothing() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    admin.credit(&member.card_id, "100.00").await;
    let shop = app.merchant_client(&admin.create_merchant("Shop").await).await;
    let qr = app.member_client(&member).await.qr(&member.card_id).await;
    let paid = shop.charge(&qr, "10.00").await;
    assert_eq!(paid.status, 201, "{}", paid.text);
    let tx_no = paid.json["transaction"]["tx_no"].as_str().unwrap();

    for (tag, field) in [(json!({ "note": NUL_TEXT }), "tag.note"), (json!({ "no\u{0}te": "x" }), "tag")] {
        let charge = json!({ "qr_plain": qr, "amount": "1.00", "tag": tag });
        let refund = json!({ "original_tx_no": tx_no, "amount": "1.00", "tag": tag });
        for (path, body) in [("/merchant/charge", charge), ("/merchant/refund", refund)] {
            let response = shop.post_idempotent(path, &new_key(), body).await;
            response.assert_error(422, "VALIDATION_FAILED");
            assert!(
                response.json["error"]["details"]["fields"].get(field).is_some(),
                "{path} names {field}: {}",
                response.text
            );
        }
    }
    assert_eq!(crate::helpers::card_state(&app.pool, &member.card_id).await.0, "90.00", "nothing more moved");
}

#[tokio::test]
async fn a_nul_in_a_query_string_or_a_path_parameter_is_a_422() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    admin.get("/admin/members?q=a%00b").await.assert_error(422, "VALIDATION_FAILED");
    admin.get("/admin/members/M0%000001").await.assert_error(422, "VALIDATION_FAILED");
    admin.get("/admin/merchants/SH%00P").await.assert_error(422, "VALIDATION_FAILED");
    admin.get("/transactions/PAY%00").await.assert_error(422, "VALIDATION_FAILED");
}

/// Amounts a payment API must not guess at.
const PADDED_AMOUNTS: [&str; 4] = [" 10", "10 ", " 10.00 ", "\t10"];

#[tokio::test]
async fn amounts_with_surrounding_whitespace_are_invalid_on_all_five_money_endpoints() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    admin.credit(&member.card_id, "100.00").await;
    let shop = app.merchant_client(&admin.create_merchant("Shop").await).await;
    let ana = app.member_client(&member).await;
    let qr = ana.qr(&member.card_id).await;
    let paid = shop.charge(&qr, "10.00").await;
    let tx_no = paid.json["transaction"]["tx_no"].as_str().unwrap().to_owned();
    let qr = ana.qr(&member.card_id).await;

    for amount in PADDED_AMOUNTS {
        let calls = [
            (&shop, "/merchant/charge".to_owned(), json!({ "qr_plain": qr, "amount": amount })),
            (&shop, "/merchant/refund".to_owned(), json!({ "original_tx_no": tx_no, "amount": amount })),
            (&shop, "/merchant/recharge".to_owned(), json!({ "card_no": member.card_no, "amount": amount })),
            (
                &ana,
                "/member/recharge".to_owned(),
                json!({ "card_id": member.card_id, "amount": amount, "payment_method": "wechat" }),
            ),
            (&admin, format!("/admin/cards/{}/recharge", member.card_id), json!({ "amount": amount })),
        ];
        for (client, path, body) in calls {
            let response = client.post_idempotent(&path, &new_key(), body).await;
            assert_eq!(
                (response.status.as_u16(), response.error_code()),
                (422, "INVALID_AMOUNT"),
                "{path} with amount {amount:?}: {}",
                response.text
            );
        }
    }
    assert_eq!(crate::helpers::card_state(&app.pool, &member.card_id).await.0, "90.00", "nothing moved");
}

/// A value of every property of `schema` (required or not), resolved through `$ref`s.
fn sample(document: &Value, schema: &Value) -> Value {
    if let Some(reference) = schema["$ref"].as_str() {
        return sample(document, document.pointer(reference.trim_start_matches('#')).expect("the $ref resolves"));
    }
    for alternatives in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) =
            schema[alternatives].as_array().and_then(|variants| variants.iter().find(|v| v["type"] != "null"))
        {
            return sample(document, first);
        }
    }
    if let Some(first) = schema["enum"].as_array().and_then(|values| values.iter().find(|v| !v.is_null())) {
        return first.clone();
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds.iter().find(|k| *k != "null").cloned().unwrap_or(Value::Null),
        kind => kind.clone(),
    };
    match kind.as_str() {
        Some("object") => Value::Object(
            schema["properties"]
                .as_object()
                .map(|properties| properties.iter().map(|(name, p)| (name.clone(), sample(document, p))).collect())
                .unwrap_or_default(),
        ),
        Some("array") => json!([sample(document, &schema["items"])]),
        Some("string") => match schema["format"].as_str() {
            Some("uuid") => json!(uuid::Uuid::new_v4()),
            Some("date-time") => json!("2026-01-01T00:00:00Z"),
            Some("date") => json!("2026-01-01"),
            _ => json!("x"),
        },
        Some("integer" | "number") => json!(1),
        Some("boolean") => json!(true),
        _ => json!({}),
    }
}

/// Every variant of `body` with one NUL planted: in each string (expected field: its path), and
/// in a value and a key of each free-form object (such as `tag`).
fn nul_variants(value: &Value, path: &str, plant: &mut dyn FnMut(&str, Value)) {
    let at = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    match value {
        Value::String(_) => plant(path, json!(NUL_TEXT)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                nul_variants(item, &format!("{path}[{i}]"), &mut |field, planted| {
                    let mut items = items.clone();
                    items[i] = planted;
                    plant(field, Value::Array(items));
                });
            }
        }
        Value::Object(fields) if fields.is_empty() => {
            plant(&at("k"), json!({ "k": NUL_TEXT }));
            plant(path, json!({ "k\u{0}": "v" }));
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                nul_variants(item, &at(key), &mut |field, planted| {
                    let mut fields = fields.clone();
                    fields.insert(key.clone(), planted);
                    plant(field, Value::Object(fields));
                });
            }
        }
        _ => {}
    }
}

fn signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn every_string_field_of_every_request_body_in_the_openapi_document_refuses_a_nul() {
    let app =
        TestApp::with_vars(&[("PAYMENT_WEBHOOK_SECRET", WEBHOOK_SECRET), ("RATE_LIMIT_REQUESTS", "100000")]).await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let tokens = [
        ("/admin", admin.token.clone()),
        ("/merchant", app.merchant_client(&admin.create_merchant("Shop").await).await.token),
        ("/", app.member_client(&member).await.token),
    ];
    let document = app.get("/openapi.json").await.json;
    let mut tested = Vec::new();
    let mut wrong = Vec::new();
    for (template, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            let Some(schema) = operation.pointer("/requestBody/content/application~1json/schema") else { continue };
            // Every path parameter takes a UUID (ids, or `id_or_no`-style ones): the member's card id.
            let path: String = template
                .split('/')
                .map(|segment| if segment.starts_with('{') { member.card_id.as_str() } else { segment })
                .collect::<Vec<_>>()
                .join("/");
            let token = tokens.iter().find(|(prefix, _)| template.starts_with(prefix)).map(|(_, t)| t.clone());
            let mut variants = Vec::new();
            nul_variants(&sample(&document, schema), "", &mut |field, body| variants.push((field.to_owned(), body)));
            for (field, body) in variants {
                let bytes = body.to_string().into_bytes();
                let mut request = Request::builder()
                    .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
                    .uri(&path)
                    .header("content-type", "application/json")
                    .header("idempotency-key", new_key())
                    .header("x-mps-signature", signature(&bytes));
                if let Some(token) = token.as_ref().filter(|_| !template.starts_with("/auth/login")) {
                    request = request.header("authorization", format!("Bearer {token}"));
                }
                let response: TestResponse = app.send(request.body(Body::from(bytes)).unwrap()).await;
                let named = response.json["error"]["details"]["fields"].get(field.as_str()).is_some();
                if response.status != 422 || response.error_code() != "VALIDATION_FAILED" || !named {
                    wrong.push(format!("{method} {template} `{field}`: {} {}", response.status, response.text));
                }
                tested.push(format!("{method} {template} {field}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} fields did not answer 422 naming the field:\n{}",
        wrong.len(),
        tested.len(),
        wrong.join("\n")
    );
    assert!(tested.len() >= 40, "the walk reached the request bodies: {tested:?}");
    assert!(tested.iter().any(|t| t.contains("/merchant/charge tag")), "free-form tags are walked too: {tested:?}");
}
