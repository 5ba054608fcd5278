//! A member's card list, cached in Redis for at most 300 s and never read to decide a payment.
//!
//! Invalidation bumps a per-member generation number instead of deleting the value: a reader
//! records the generation it saw before reading PostgreSQL and tags what it caches with it, so a
//! list read while a change was committing can never be served after the change (the bump makes
//! the tags differ). A read costs one MGET, shared with the caller's session check; a change
//! costs one pipelined INCR.
//!
//! Invalidations that fail while Redis is down are lost, so every cached list is also tagged
//! with a global epoch, which the recovery after a Redis failure bumps ([`start_new_epoch`]):
//! lists cached before the outage then never come back. Until then the cache is bypassed.
//!
//! On a Redis Cluster, the member's keys and the caller's session marker share the member's hash
//! tag, so the fused MGET stays in one slot; the global epoch lives in another slot and is read
//! at most once a second per process ([`current_epoch`]), besides being refreshed by this
//! process's own recovery.

use std::time::{Duration, Instant};

use deadpool_redis::redis::{self, AsyncCommands as _};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use mps_api::domain::CardView;

use crate::auth::session::{self, SessionClaim};
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

/// How long this process may go on using an epoch it read.
const EPOCH_FRESH_FOR: Duration = Duration::from_secs(1);

fn keys(state: &AppState, member_id: Uuid) -> (String, String) {
    (state.cache.tagged_key(&member_id, "cards"), state.cache.tagged_key(&member_id, "cards-gen"))
}

fn epoch_key(state: &AppState) -> String {
    state.cache.key("member-cards-epoch")
}

/// Makes every card list cached so far stale (after a Redis failure lost invalidations).
pub async fn start_new_epoch(state: &AppState) -> Result<(), crate::cache::CacheError> {
    let key = epoch_key(state);
    let epoch: i64 = state.cache.run(|mut c| async move { c.incr(key, 1).await }).await?;
    state.card_list_epoch.store(epoch, Instant::now());
    Ok(())
}

/// The global epoch: this process's copy when younger than [`EPOCH_FRESH_FOR`], else Redis's.
/// A global key read by every request would put the whole load on one cluster node.
async fn current_epoch(state: &AppState) -> Result<i64, crate::cache::CacheError> {
    if let Some(epoch) = state.card_list_epoch.fresh(EPOCH_FRESH_FOR) {
        return Ok(epoch);
    }
    let key = epoch_key(state);
    let epoch: Option<i64> = state.cache.run(|mut c| async move { c.get(key).await }).await?;
    let epoch = epoch.unwrap_or(0);
    state.card_list_epoch.store(epoch, Instant::now());
    Ok(epoch)
}

/// What Redis holds for a member's card list, read before PostgreSQL is asked.
pub enum Lookup {
    /// A list tagged with the current generation and epoch.
    Current(Vec<CardView>),
    /// No current list: read PostgreSQL and cache the result under these tags.
    Stale { generation: i64, epoch: i64 },
    /// Redis cannot be trusted or reached: read PostgreSQL, cache nothing.
    Bypass,
}

impl Lookup {
    fn from_values(value: Option<String>, generation: Option<i64>, epoch: Option<i64>) -> Lookup {
        let (generation, epoch) = (generation.unwrap_or(0), epoch.unwrap_or(0));
        match value.as_deref().and_then(|v| serde_json::from_str::<Cached>(v).ok()) {
            Some(hit) if hit.generation == generation && hit.epoch == epoch => Lookup::Current(hit.cards),
            _ => Lookup::Stale { generation, epoch },
        }
    }
}

/// Checks the caller's session and looks up the member's cached list in one MGET: the cached
/// read is the hottest request, and a second Redis round trip cost it a third of its time.
/// Answers whether the session is live (PostgreSQL decides when the marker cannot) and the lookup.
pub async fn lookup_with_session(state: &AppState, claim: SessionClaim) -> Result<(bool, Lookup), ApiError> {
    if state.cache.unsettled() {
        return Ok((session::is_live(state, claim).await?, Lookup::Bypass));
    }
    let (value_key, generation_key) = keys(state, claim.subject);
    let keys = [session::marker_key(state, claim), value_key, generation_key];
    type Values = (Option<String>, Option<String>, Option<i64>);
    let read = state.cache.run(|mut c| async move { c.mget::<_, Values>(&keys).await }).await;
    let (Ok((marker, value, generation)), Ok(epoch)) = (read, current_epoch(state).await) else {
        return Ok((session::is_live_in_database(state, claim, false).await?, Lookup::Bypass));
    };
    let epoch = Some(epoch);
    let live = match session::cached_verdict(state, marker.as_deref(), claim) {
        Some(verdict) => verdict,
        None => session::is_live_in_database(state, claim, true).await?,
    };
    Ok((live, Lookup::from_values(value, generation, epoch)))
}

/// The cards a member is bound to: the looked-up list when it is current, else PostgreSQL's
/// (cached under the tags the lookup saw, so a change that committed meanwhile wins).
pub async fn member_cards(state: &AppState, member_id: Uuid, lookup: Lookup) -> Result<Vec<CardView>, ApiError> {
    let (generation, epoch) = match lookup {
        Lookup::Current(cards) => return Ok(cards),
        Lookup::Stale { generation, epoch } => (generation, epoch),
        Lookup::Bypass => return crate::db::member_cards::cards_for_member(&state.db, member_id).await,
    };
    let cards = crate::db::member_cards::cards_for_member(&state.db, member_id).await?;
    if let Ok(raw) = serde_json::to_string(&Cached { generation, epoch, cards: cards.clone() }) {
        let value_key = keys(state, member_id).0;
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
            // One pipeline per member: their keys lie in different slots of a cluster.
            for key in &generation_keys {
                redis::pipe()
                    .incr(key, 1)
                    .ignore()
                    .expire(key, i64::try_from(GENERATION_TTL.as_secs()).unwrap_or(i64::MAX))
                    .ignore()
                    .query_async::<()>(&mut c)
                    .await?;
            }
            Ok(())
        })
        .await;
}
