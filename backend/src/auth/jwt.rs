//! HS256 JSON Web Tokens for the dashboard.
//!
//! Only HS256 is accepted, and the algorithm is fixed here rather than read from the token,
//! so `alg: none` and algorithm-confusion tokens fail like any bad signature. This is the
//! whole of JWT the service needs; a general JWT crate would add several public-key
//! algorithms (and their compile time) that it would then have to switch off.
//!
//! Besides the signature, a token must name this service's issuer and audience
//! ([`TokenPolicy`]), must expire, and may live at most `max_lifetime`: a leaked token is
//! then good for hours, not forever. `nbf`, when present, is honoured.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::config::TokenPolicy;

type HmacSha256 = Hmac<Sha256>;

/// Tolerated clock skew between whoever minted a token and this server, in seconds.
pub const LEEWAY_SECS: i64 = 30;

/// Longer tokens are refused before any decoding work.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Kept so that tokens that carry it still verify; the admin API takes `ADMIN_API_TOKEN`
    /// only, never a bearer JWT.
    Admin,
    /// Reads events and stats.
    Viewer,
}

/// `aud` is one string or an array of them (RFC 7519, 4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(one) => one == audience,
            Self::Many(many) => many.iter().any(|one| one == audience),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    /// Who minted it; must be the configured `JWT_ISSUER`.
    pub iss: String,
    /// For whom; must be or contain the configured `JWT_AUDIENCE`.
    pub aud: Audience,
    /// Issued at, in seconds since the Unix epoch; when present, bounds the lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not before, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: i64,
    /// Absent means [`Role::Viewer`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

impl Claims {
    /// Claims that `policy` accepts: issued `now`, valid for `lifetime_secs`.
    pub fn new(
        sub: impl Into<String>,
        role: Role,
        policy: &TokenPolicy,
        now: i64,
        lifetime_secs: i64,
    ) -> Self {
        Self {
            sub: sub.into(),
            iss: policy.issuer.clone(),
            aud: Audience::One(policy.audience.clone()),
            iat: Some(now),
            nbf: Some(now),
            exp: now + lifetime_secs,
            role: Some(role),
        }
    }

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

/// Checks `token`'s signature, then its claims against `policy` and `now` (seconds since the
/// epoch). The signature comes first so that an unsigned token never learns it was "expired".
pub fn verify(
    token: &str,
    secret: &[u8],
    policy: &TokenPolicy,
    now: i64,
) -> Result<Claims, JwtError> {
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
    if claims.iss != policy.issuer || !claims.aud.contains(&policy.audience) {
        return Err(JwtError::Invalid);
    }
    if claims
        .nbf
        .is_some_and(|nbf| now.saturating_add(LEEWAY_SECS) < nbf)
    {
        return Err(JwtError::Invalid);
    }
    // A token that lives longer than allowed is refused outright, whether its length shows
    // from `iat` or only from now: a long-lived token is a standing credential.
    let max_lifetime = i64::try_from(policy.max_lifetime.as_secs()).unwrap_or(i64::MAX);
    let issued = claims.iat.unwrap_or(now).min(now);
    if claims.exp.saturating_sub(issued) > max_lifetime.saturating_add(LEEWAY_SECS) {
        return Err(JwtError::Invalid);
    }
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

    fn policy() -> TokenPolicy {
        TokenPolicy::default()
    }

    fn verify(token: &str, secret: &[u8], now: i64) -> Result<Claims, JwtError> {
        super::verify(token, secret, &policy(), now)
    }

    fn claims(role: Option<Role>) -> Claims {
        Claims {
            role,
            ..Claims::new("alice", Role::Viewer, &policy(), NOW, 600)
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
                r#"{{"sub":"bob","exp":{},"iat":{NOW},"role":"admin","iss":"eventflow","aud":["other","eventflow-api"],"jti":"x"}}"#,
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
                iat: Some(NOW - 600),
                nbf: None,
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
                iat: Some(NOW - 4000),
                ..claims(None)
            },
            b"another-secret-another-secret-0123",
        );
        assert_eq!(verify(&token, SECRET, NOW), Err(JwtError::Invalid));
    }

    #[test]
    fn issuer_and_audience_must_match() {
        let wrong_issuer = Claims {
            iss: "someone-else".into(),
            ..claims(None)
        };
        let wrong_audience = Claims {
            aud: Audience::Many(vec!["other".into()]),
            ..claims(None)
        };
        for claims in [wrong_issuer, wrong_audience] {
            assert_eq!(
                verify(&sign(&claims, SECRET), SECRET, NOW),
                Err(JwtError::Invalid)
            );
        }
        // Without `iss` or `aud` at all: refused too.
        let bare = forge(
            r#"{"alg":"HS256"}"#,
            &format!(r#"{{"sub":"a","exp":{}}}"#, NOW + 60),
            SECRET,
        );
        assert_eq!(verify(&bare, SECRET, NOW), Err(JwtError::Invalid));
    }

    #[test]
    fn not_before_is_honoured_with_the_leeway() {
        let token = sign(
            &Claims {
                nbf: Some(NOW + 120),
                ..claims(None)
            },
            SECRET,
        );
        assert_eq!(verify(&token, SECRET, NOW), Err(JwtError::Invalid));
        assert!(verify(&token, SECRET, NOW + 120 - LEEWAY_SECS).is_ok());
    }

    #[test]
    fn lifetime_is_bounded() {
        let max = policy().max_lifetime.as_secs() as i64;
        let at_most = Claims::new("a", Role::Viewer, &policy(), NOW, max);
        assert!(verify(&sign(&at_most, SECRET), SECRET, NOW).is_ok());
        // Too long from `iat`, even when checked later in its life.
        let too_long = Claims::new("a", Role::Viewer, &policy(), NOW, max + 3600);
        assert_eq!(
            verify(&sign(&too_long, SECRET), SECRET, NOW + 7200),
            Err(JwtError::Invalid)
        );
        // Without `iat`: too long from now.
        let no_iat = Claims {
            iat: None,
            nbf: None,
            exp: NOW + max + 3600,
            ..claims(None)
        };
        assert_eq!(
            verify(&sign(&no_iat, SECRET), SECRET, NOW),
            Err(JwtError::Invalid)
        );
        // A token backdated with an old `iat` can't stretch it either.
        let backdated = Claims {
            iat: Some(NOW - 10 * max),
            exp: NOW + 600,
            ..claims(None)
        };
        assert_eq!(
            verify(&sign(&backdated, SECRET), SECRET, NOW),
            Err(JwtError::Invalid)
        );
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
                    r#"{{"sub":"alice","exp":{},"iss":"eventflow","aud":"eventflow-api","role":"admin"}}"#,
                    NOW + 600
                )),
                token.rsplit('.').next().unwrap()
            ),
            forge(
                r#"{"alg":"none"}"#,
                r#"{"sub":"a","exp":1800000600,"iss":"eventflow","aud":"eventflow-api"}"#,
                SECRET,
            ),
            forge(
                r#"{"alg":"HS512"}"#,
                r#"{"sub":"a","exp":1800000600,"iss":"eventflow","aud":"eventflow-api"}"#,
                SECRET,
            ),
            forge(
                r#"{"alg":"HS256","crit":["b64"]}"#,
                r#"{"sub":"a","exp":1800000600,"iss":"eventflow","aud":"eventflow-api"}"#,
                SECRET,
            ),
            forge(
                r#"{"alg":"HS256"}"#,
                r#"{"sub":"a","exp":1800000600,"iss":"eventflow","aud":"eventflow-api","role":"root"}"#,
                SECRET,
            ),
            forge(r#"{"alg":"HS256"}"#, r#"{"sub":"a"}"#, SECRET),
            forge(r#"{"alg":"HS256"}"#, r#"{"exp":1800000600,"iss":"eventflow","aud":"eventflow-api"}"#, SECRET),
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
