//! The opaque cursor of `GET /v1/events`: the (timestamp, id) of the last event on a page.
//! The next page continues strictly after it in the newest-first order, so pages neither
//! skip nor repeat events, however many arrive meanwhile.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub timestamp: DateTime<Utc>,
    pub id: i64,
}

impl Cursor {
    /// Encodes as URL-safe base64, so it can go into a query string as it is.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.timestamp.timestamp_micros(), self.id))
    }

    pub fn decode(encoded: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        let (micros, id) = text.split_once(':')?;
        let timestamp = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        // A tampered cursor may hold a time chrono accepts but PostgreSQL can't store
        // (before 4713 BC): refuse it here, as a bad cursor, rather than as a database error.
        if !(1..=9999).contains(&timestamp.year()) {
            return None;
        }
        Some(Self {
            timestamp,
            id: id.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let timestamp = DateTime::parse_from_rfc3339("2025-03-01T10:20:30.123456Z")
            .unwrap()
            .to_utc();
        let cursor = Cursor { timestamp, id: 42 };
        let encoded = cursor.encode();
        assert!(
            encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{encoded}"
        );
        assert_eq!(Cursor::decode(&encoded), Some(cursor));
        let old = Cursor {
            timestamp: DateTime::parse_from_rfc3339("1901-01-01T00:00:00Z")
                .unwrap()
                .to_utc(),
            id: 1,
        };
        assert_eq!(Cursor::decode(&old.encode()), Some(old));
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            "",
            "!!!",
            "abc",
            &URL_SAFE_NO_PAD.encode("12"),
            &URL_SAFE_NO_PAD.encode("x:1"),
            &URL_SAFE_NO_PAD.encode("1:y"),
            &URL_SAFE_NO_PAD.encode(format!("{}:1", i64::MIN)),
            &URL_SAFE_NO_PAD.encode("-8210298412800000000:1"),
            &URL_SAFE_NO_PAD.encode("1:99999999999999999999"),
            // Outside the years an event can have, and PostgreSQL's range.
            &URL_SAFE_NO_PAD.encode("-250000000000000000:1"),
            &URL_SAFE_NO_PAD.encode("8000000000000000000:1"),
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
