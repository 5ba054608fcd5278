//! A member's card list, cached in Redis for at most 300 s and never read to decide a payment.
//!
//! Invalidation bumps a per-member generation number instead of deleting the value: a reader
//! records the generation it saw before reading PostgreSQL and tags what it caches with it, so a
//! list read while a change was committing can never be served after the change (the bump makes
//! the tags differ). Reads cost one MGET; a change costs one pipelined INCR.
//!
//! Invalidations that fail while Redis is down are lost, so every cached list is also tagged
//! with a global epoch, which the recovery after a Redis failure bumps ([`start_new_epoch`]):
//! lists cached before the outage then never come back. Until then the cache is bypassed.

use std::time::Duration;

use deadpool_redis::redis::{self, AsyncCommands as _};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::CardView;
use crate::error::ApiError;
use crate::state::AppState;

const VALUE_TTL: Duration = Duration::from_secs(300);
const GENERATION_TTL: Duration = Duration::from_secs(3600);

#[derive(Serialize, Deserialize)]
struct Cached {
    generation: i64,
    #[serde(default)]
    epoch: i64,
    cards: Vec<CardView>,
}

fn keys(state: &AppState, member_id: Uuid) -> (String, String) {
    (state.cache.key(&format!("member-cards:{member_id}")), state.cache.key(&format!("member-cards-gen:{member_id}")))
}

fn epoch_key(state: &AppState) -> String {
    state.cache.key("member-cards-epoch")
}

/// Makes every card list cached so far stale (after a Redis failure lost invalidations).
pub async fn start_new_epoch(state: &AppState) -> Result<(), crate::cache::CacheError> {
    let key = epoch_key(state);
    state.cache.run(|mut c| async move { c.incr::<_, _, ()>(key, 1).await }).await
}

/// The cards a member is bound to, from the cache when it is current.
pub async fn member_cards(state: &AppState, member_id: Uuid) -> Result<Vec<CardView>, ApiError> {
    if state.cache.unsettled() {
        return crate::db::cards::cards_for_member(&state.db, member_id).await;
    }
    let (value_key, generation_key) = keys(state, member_id);
    let cached = {
        let keys = [value_key.clone(), generation_key, epoch_key(state)];
        state
            .cache
            .run(|mut c| async move { c.mget::<_, (Option<String>, Option<i64>, Option<i64>)>(&keys).await })
            .await
    };
    let tags = match &cached {
        Ok((value, generation, epoch)) => {
            let (generation, epoch) = (generation.unwrap_or(0), epoch.unwrap_or(0));
            if let Some(hit) = value.as_deref().and_then(|v| serde_json::from_str::<Cached>(v).ok())
                && hit.generation == generation
                && hit.epoch == epoch
            {
                return Ok(hit.cards);
            }
            Some((generation, epoch))
        }
        Err(_) => None,
    };
    let cards = crate::db::cards::cards_for_member(&state.db, member_id).await?;
    if let Some((generation, epoch)) = tags
        && let Ok(raw) = serde_json::to_string(&Cached { generation, epoch, cards: cards.clone() })
    {
        let _ = state
            .cache
            .run(|mut c| async move { c.set_ex::<_, _, ()>(value_key, raw, VALUE_TTL.as_secs()).await })
            .await;
    }
    Ok(cards)
}

/// Marks the cached card lists of these members stale.
pub async fn invalidate(state: &AppState, member_ids: &[Uuid]) {
    if member_ids.is_empty() || !state.cache.is_configured() {
        return;
    }
    let generation_keys: Vec<String> = member_ids.iter().map(|id| keys(state, *id).1).collect();
    let _ = state
        .cache
        .run(|mut c| async move {
            let mut pipe = redis::pipe();
            for key in &generation_keys {
                pipe.incr(key, 1).ignore().expire(key, GENERATION_TTL.as_secs() as i64).ignore();
            }
            pipe.query_async::<()>(&mut c).await
        })
        .await;
}
