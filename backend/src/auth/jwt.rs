//! HS256 JSON Web Tokens for the dashboard and the admin API.
//!
//! Only HS256 is accepted, and the algorithm is fixed here rather than read from the token,
//! so `alg: none` and algorithm-confusion tokens fail like any bad signature. This is the
//! whole of JWT the service needs; a general JWT crate would add several public-key
//! algorithms (and their compile time) that it would then have to switch off.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Tolerated clock skew between whoever minted a token and this server, in seconds.
pub const LEEWAY_SECS: i64 = 30;

/// Longer tokens are refused before any decoding work.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads events and stats, and manages API keys and events.
    Admin,
    /// Reads events and stats.
    Viewer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: i64,
    /// Absent means [`Role::Viewer`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

impl Claims {
    pub fn role(&self) -> Role {
        self.role.unwrap_or(Role::Viewer)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    /// Correctly signed, but past its `exp`.
    Expired,
    /// Anything else: malformed, wrong algorithm, bad signature, bad claims.
    Invalid,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    /// Extensions the token says must be understood: this verifier understands none.
    crit: Option<serde_json::Value>,
}

fn mac(secret: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length")
}

/// Signs `claims` with `secret`. The server never issues tokens; the dashboard's sign-in,
/// the tests and the end-to-end suite do.
pub fn sign(claims: &Claims, secret: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let signing_input = format!("{header}.{payload}");
    let mut mac = mac(secret);
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Checks `token`'s signature, then its expiry against `now` (seconds since the epoch).
/// The signature comes first so that an unsigned token never learns it was "expired".
pub fn verify(token: &str, secret: &[u8], now: i64) -> Result<Claims, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::Invalid);
    }
    let (signing_input, signature) = token.rsplit_once('.').ok_or(JwtError::Invalid)?;
    let (header, payload) = signing_input.split_once('.').ok_or(JwtError::Invalid)?;
    if payload.contains('.') {
        return Err(JwtError::Invalid);
    }

    let header: Header = decode_json(header)?;
    if header.alg != "HS256" || header.crit.is_some() {
        return Err(JwtError::Invalid);
    }

    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Invalid)?;
    let mut mac = mac(secret);
    mac.update(signing_input.as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&signature)
        .map_err(|_| JwtError::Invalid)?;

    let claims: Claims = decode_json(payload)?;
    if now >= claims.exp.saturating_add(LEEWAY_SECS) {
        return Err(JwtError::Expired);
    }
    Ok(claims)
}

fn decode_json<T: serde::de::DeserializeOwned>(segment: &str) -> Result<T, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JwtError::Invalid)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"jwt-secret-jwt-secret-jwt-secret-0123";
    const NOW: i64 = 1_800_000_000;

    fn claims(role: Option<Role>) -> Claims {
        Claims {
            sub: "alice".into(),
            exp: NOW + 600,
            role,
        }
    }

    fn forge(header: &str, payload: &str, secret: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let mut mac = mac(secret);
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn round_trip_and_default_role() {
        let token = sign(&claims(None), SECRET);
        let verified = verify(&token, SECRET, NOW).unwrap();
        assert_eq!(verified.sub, "alice");
        assert_eq!(verified.role(), Role::Viewer);
        let admin = verify(&sign(&claims(Some(Role::Admin)), SECRET), SECRET, NOW).unwrap();
        assert_eq!(admin.role(), Role::Admin);
    }

    #[test]
    fn tokens_from_other_libraries_verify() {
        // Extra claims and header fields are ignored.
        let token = forge(
            r#"{"typ":"JWT","alg":"HS256","kid":"k1"}"#,
            &format!(
                r#"{{"sub":"bob","exp":{},"iat":1,"role":"admin","iss":"dashboard"}}"#,
                NOW + 5
            ),
            SECRET,
        );
        assert_eq!(verify(&token, SECRET, NOW).unwrap().role(), Role::Admin);
    }

    #[test]
    fn expiry_allows_the_leeway_and_no_more() {
        let token = sign(
            &Claims {
                exp: NOW,
                ..claims(None)
            },
            SECRET,
        );
        assert!(verify(&token, SECRET, NOW + LEEWAY_SECS - 1).is_ok());
        assert_eq!(
            verify(&token, SECRET, NOW + LEEWAY_SECS),
            Err(JwtError::Expired)
        );
    }

    #[test]
    fn an_expired_token_with_a_bad_signature_is_invalid_not_expired() {
        let token = sign(
            &Claims {
                exp: NOW - 3600,
                ..claims(None)
            },
            b"another-secret-another-secret-0123",
        );
        assert_eq!(verify(&token, SECRET, NOW), Err(JwtError::Invalid));
    }

    #[test]
    fn rejects_tampering_and_other_algorithms() {
        let token = sign(&claims(None), SECRET);
        let (head, _) = token.rsplit_once('.').unwrap();
        let cases = [
            String::new(),
            "a.b".into(),
            "a.b.c.d".into(),
            format!("{head}."),
            format!("{head}.{}", URL_SAFE_NO_PAD.encode([0u8; 32])),
            // The payload swapped for an admin one, signature kept.
            format!(
                "{}.{}.{}",
                head.split('.').next().unwrap(),
                URL_SAFE_NO_PAD.encode(format!(
                    r#"{{"sub":"alice","exp":{},"role":"admin"}}"#,
                    NOW + 600
                )),
                token.rsplit('.').next().unwrap()
            ),
            forge(
                r#"{"alg":"none"}"#,
                r#"{"sub":"a","exp":9999999999}"#,
                SECRET,
            ),
            forge(
                r#"{"alg":"HS512"}"#,
                r#"{"sub":"a","exp":9999999999}"#,
                SECRET,
            ),
            forge(
                r#"{"alg":"HS256","crit":["b64"]}"#,
                r#"{"sub":"a","exp":9999999999}"#,
                SECRET,
            ),
            forge(
                r#"{"alg":"HS256"}"#,
                r#"{"sub":"a","exp":9999999999,"role":"root"}"#,
                SECRET,
            ),
            forge(r#"{"alg":"HS256"}"#, r#"{"sub":"a"}"#, SECRET),
            forge(r#"{"alg":"HS256"}"#, r#"{"exp":9999999999}"#, SECRET),
            "x".repeat(MAX_TOKEN_BYTES + 1),
        ];
        for case in cases {
            assert_eq!(verify(&case, SECRET, NOW), Err(JwtError::Invalid), "{case}");
        }
        assert_eq!(
            verify(&token, b"wrong-secret-wrong-secret-wrong-0123", NOW),
            Err(JwtError::Invalid)
        );
    }
}
