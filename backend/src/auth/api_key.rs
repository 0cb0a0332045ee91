//! API keys, which client apps send in `X-API-Key` to ingest events.
//!
//! A key reads `efk_<lookup>_<secret>`: `lookup` (16 hex digits) finds the row, and the whole
//! key's HMAC-SHA256 under `API_KEYS_SECRET` is compared, in constant time, with the stored
//! one. The database never holds a usable key: a leaked `api_keys` table is useless without
//! `API_KEYS_SECRET`, and the key itself is shown once, when it is created.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use serde::Serialize;
use sha2::Sha256;
use sqlx::PgPool;

use crate::config::Secret;

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "efk_";
const LOOKUP_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;
/// The longest name an API key may have, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// A key as generated, before it is stored.
#[derive(Debug)]
pub struct GeneratedKey {
    pub lookup: String,
    pub key: String,
    pub hash: Vec<u8>,
}

pub fn generate(secret: &Secret) -> GeneratedKey {
    let mut lookup = [0u8; LOOKUP_BYTES];
    let mut random = [0u8; SECRET_BYTES];
    OsRng.fill_bytes(&mut lookup);
    OsRng.fill_bytes(&mut random);
    let lookup = hex::encode(lookup);
    let key = format!("{PREFIX}{lookup}_{}", URL_SAFE_NO_PAD.encode(random));
    let hash = mac(secret, &key).finalize().into_bytes().to_vec();
    GeneratedKey { lookup, key, hash }
}

fn mac(secret: &Secret, key: &str) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.expose()).expect("HMAC accepts keys of any length");
    mac.update(key.as_bytes());
    mac
}

/// The lookup part of a well-formed key, or `None`.
pub fn lookup_part(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(PREFIX)?;
    let (lookup, secret) = rest.split_once('_')?;
    let well_formed = lookup.len() == LOOKUP_BYTES * 2
        && lookup
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && URL_SAFE_NO_PAD
            .decode(secret)
            .is_ok_and(|bytes| bytes.len() == SECRET_BYTES);
    well_formed.then_some(lookup)
}

/// Whether `key` hashes to `stored_hash`, compared in constant time.
pub fn matches(secret: &Secret, key: &str, stored_hash: &[u8]) -> bool {
    mac(secret, key).verify_slice(stored_hash).is_ok()
}

/// Checks a key's name: 1 to 200 characters, no control characters.
pub fn validate_name(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(format!(
            "must be 1 to {MAX_NAME_CHARS} characters (got {chars})"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(())
}

/// A stored key, without its hash.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApiKeyRecord {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// Stores a new key named `name` and returns it with the key, which is never shown again.
pub async fn create(
    pool: &PgPool,
    secret: &Secret,
    name: &str,
) -> Result<(ApiKeyRecord, String), sqlx::Error> {
    let generated = generate(secret);
    let record = sqlx::query_as::<_, ApiKeyRecord>(
        "INSERT INTO api_keys (name, prefix, key_hash) VALUES ($1, $2, $3) RETURNING id, name, created_at",
    )
    .bind(name)
    .bind(&generated.lookup)
    .bind(&generated.hash)
    .fetch_one(pool)
    .await?;
    Ok((record, generated.key))
}

/// Deletes a key; `false` when there was none with that id.
pub async fn delete(pool: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM api_keys WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// The id of the key `presented` is, or `None` when it is not a valid key.
pub async fn authenticate(
    pool: &PgPool,
    secret: &Secret,
    presented: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let Some(lookup) = lookup_part(presented) else {
        return Ok(None);
    };
    let row: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT id, key_hash FROM api_keys WHERE prefix = $1")
            .bind(lookup)
            .fetch_optional(pool)
            .await?;
    // An unknown lookup still costs one HMAC, so timing doesn't tell it from a wrong secret.
    let (id, stored_hash) = row.unwrap_or((0, vec![0; 32]));
    Ok((matches(secret, presented, &stored_hash) && id != 0).then_some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("api-keys-secret-api-keys-secret-0123")
    }

    #[test]
    fn generated_keys_parse_and_match_only_their_hash() {
        let a = generate(&secret());
        let b = generate(&secret());
        assert_ne!(a.key, b.key);
        assert_eq!(lookup_part(&a.key), Some(a.lookup.as_str()));
        assert!(matches(&secret(), &a.key, &a.hash));
        assert!(!matches(&secret(), &b.key, &a.hash));
        assert!(!matches(
            &Secret::new("another-secret-another-secret-01234"),
            &a.key,
            &a.hash
        ));
        // The hash is not the key, nor derived from it without the secret.
        assert_eq!(a.hash.len(), 32);
        assert!(!a.key.contains(&hex::encode(&a.hash)));
    }

    #[test]
    fn malformed_keys_have_no_lookup_part() {
        let key = generate(&secret()).key;
        let (head, tail) = key.split_at(key.len() - 1);
        for bad in [
            "",
            "efk_",
            "efk_0123456789abcdef",
            "xyz_0123456789abcdef_AAAA",
            &key[4..],
            &format!("{key}A"),
            &format!("{head}!{tail}"),
            &key.replacen("efk_", "efk_Z", 1),
        ] {
            assert_eq!(lookup_part(bad), None, "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(validate_name("ios-app").is_ok());
        assert!(validate_name(&"é".repeat(200)).is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name(&"a".repeat(201)).is_err());
        assert!(validate_name("a\nb").is_err());
    }
}
