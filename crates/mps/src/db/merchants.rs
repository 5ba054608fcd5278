//! Merchants: creation and lookups.

use sqlx::PgPool;

use mps_api::domain::MerchantView;

use crate::db::audit::{self, Actor};
use crate::error::ApiError;

/// Columns of a [`MerchantView`] from `merchants m`.
pub const MERCHANT_VIEW_COLUMNS: &str = "m.id, m.code, m.name, m.contact, m.status, m.created_at";

/// Creates a merchant with one `CREATE_MERCHANT` audit event.
pub async fn create_merchant(
    pool: &PgPool,
    code: &str,
    name: &str,
    contact: Option<&str>,
    password_hash: &str,
    actor: Actor<'_>,
    request_id: &str,
) -> Result<MerchantView, ApiError> {
    let mut tx = pool.begin().await?;
    let merchant: MerchantView = sqlx::query_as(
        "INSERT INTO merchants AS m (code, name, contact, password_hash) VALUES ($1, $2, $3, $4) \
         RETURNING m.id, m.code, m.name, m.contact, m.status, m.created_at",
    )
    .bind(code)
    .bind(name)
    .bind(contact)
    .bind(password_hash)
    .fetch_one(&mut *tx)
    .await?;
    let context = serde_json::json!({ "code": merchant.code });
    audit::record(&mut tx, actor, "CREATE_MERCHANT", ("merchant", &merchant.id.to_string()), context, request_id)
        .await?;
    tx.commit().await?;
    Ok(merchant)
}
