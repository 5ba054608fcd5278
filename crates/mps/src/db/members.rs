//! Members: creation (with their standard card) and lookups.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use mps_api::domain::{CardView, MemberView};

use crate::db::audit::{self, Actor};
use crate::error::ApiError;

/// Columns of a [`MemberView`] from `members m`.
pub const MEMBER_VIEW_COLUMNS: &str = "m.id, m.member_no, m.name, m.phone, m.email, m.status, m.created_at";

/// A validated request to create a member.
#[derive(Debug)]
pub struct NewMember<'a> {
    pub name: &'a str,
    pub phone: Option<&'a str>,
    pub email: Option<&'a str>,
    pub password_hash: Option<String>,
    pub external_identity: Option<(&'a str, &'a str)>,
}

/// Creates a member, its external identity and its standard card (owned by it) in one
/// transaction with one `CREATE_MEMBER` audit event: a duplicate anywhere leaves nothing behind.
pub async fn create_member(
    pool: &PgPool,
    new: NewMember<'_>,
    actor: Actor<'_>,
    request_id: &str,
) -> Result<(MemberView, CardView), ApiError> {
    let mut tx = pool.begin().await?;
    let (member, card) = insert_member(&mut tx, &new).await?;
    let context = serde_json::json!({
        "member_no": member.member_no,
        "card_no": card.card_no,
        "external_identity": new.external_identity.map(|(p, _)| p),
    });
    audit::record(&mut tx, actor, "CREATE_MEMBER", ("member", &member.id.to_string()), context, request_id).await?;
    tx.commit().await?;
    Ok((member, card))
}

/// Inserts a member, its external identity and its standard card (owned by it) inside the
/// caller's transaction; the caller audits and commits.
pub async fn insert_member(conn: &mut PgConnection, new: &NewMember<'_>) -> Result<(MemberView, CardView), ApiError> {
    let member: MemberView = sqlx::query_as(
        "INSERT INTO members AS m (name, phone, email, password_hash) VALUES ($1, $2, $3, $4) \
         RETURNING m.id, m.member_no, m.name, m.phone, m.email, m.status, m.created_at",
    )
    .bind(new.name)
    .bind(new.phone)
    .bind(new.email)
    .bind(new.password_hash.as_deref())
    .fetch_one(&mut *conn)
    .await?;
    if let Some((provider, external_id)) = new.external_identity {
        sqlx::query("INSERT INTO member_identities (member_id, provider, external_id) VALUES ($1, $2, $3)")
            .bind(member.id)
            .bind(provider)
            .bind(external_id)
            .execute(&mut *conn)
            .await?;
    }
    let card_id: Uuid = sqlx::query_scalar(
        "WITH card AS ( \
             INSERT INTO cards (card_no, card_type, name) VALUES (next_card_no('standard'), 'standard', $2) \
             RETURNING id) \
         INSERT INTO card_bindings (card_id, member_id, role) SELECT id, $1, 'owner' FROM card RETURNING card_id",
    )
    .bind(member.id)
    .bind("Standard card")
    .fetch_one(&mut *conn)
    .await?;
    let card = crate::db::member_cards::card_for_member(&mut *conn, member.id, card_id)
        .await?
        .ok_or_else(|| ApiError::internal("new card not visible to its owner"))?;
    Ok((member, card))
}
