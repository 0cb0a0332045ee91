//! `security/exceptions.json`: the findings accepted for now, each with a reason and an expiry
//! date.

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::EXCEPTIONS;
use super::scan::Finding;

/// An accepted finding: its id (and, to narrow it, part of its location), why, and until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exception {
    pub id: String,
    pub location: Option<String>,
    pub reason: String,
    /// `YYYY-MM-DD`; from that day on the exception no longer counts.
    pub expires: String,
}

impl Exception {
    pub(super) fn covers(&self, finding: &Finding) -> bool {
        self.id == finding.id
            && self
                .location
                .as_ref()
                .is_none_or(|l| finding.location.contains(l.as_str()))
    }
}

pub fn parse_exceptions(text: &str) -> Result<Vec<Exception>> {
    let value: Value =
        serde_json::from_str(text).with_context(|| format!("{EXCEPTIONS} is not valid JSON"))?;
    let list = value["exceptions"]
        .as_array()
        .with_context(|| format!("{EXCEPTIONS} has no `exceptions` list"))?;
    list.iter()
        .enumerate()
        .map(|(i, e)| {
            let field = |name: &str| {
                e[name]
                    .as_str()
                    .filter(|s| !s.trim().is_empty())
                    .map(str::to_owned)
                    .with_context(|| {
                        format!("exception {} in {EXCEPTIONS} has no `{name}`: every exception says what it accepts, why, and until when", i + 1)
                    })
            };
            let expires = field("expires")?;
            if parse_date(&expires).is_none() {
                bail!("exception {} in {EXCEPTIONS}: `expires` is `{expires}`, not a YYYY-MM-DD date", i + 1);
            }
            Ok(Exception {
                id: field("id")?,
                location: e["location"].as_str().map(str::to_owned),
                reason: field("reason")?,
                expires,
            })
        })
        .collect()
}

pub(super) fn parse_date(text: &str) -> Option<(i64, u32, u32)> {
    let mut parts = text.split('-');
    let year = parts.next()?.parse().ok()?;
    let month = parts.next()?.parse().ok()?;
    let day = parts.next()?.parse().ok()?;
    (parts.next().is_none()
        && text.len() == 10
        && (1..=12).contains(&month)
        && (1..=31).contains(&day))
    .then_some((year, month, day))
}

/// Today (UTC) as `YYYY-MM-DD`.
pub(super) fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's days-to-civil: the proleptic Gregorian date `days` after 1970-01-01.
pub(super) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn exceptions_need_an_id_a_reason_and_a_date() {
        let ok = r#"{"exceptions": [{"id": "GHSA-aaaa-bbbb-cccc", "reason": "dev server only", "expires": "2027-02-01"}]}"#;
        assert_eq!(parse_exceptions(ok).unwrap()[0].id, "GHSA-aaaa-bbbb-cccc");
        let no_reason = r#"{"exceptions": [{"id": "X", "expires": "2027-02-01"}]}"#;
        assert!(
            parse_exceptions(no_reason)
                .unwrap_err()
                .to_string()
                .contains("has no `reason`")
        );
        let bad_date = r#"{"exceptions": [{"id": "X", "reason": "r", "expires": "next year"}]}"#;
        assert!(
            parse_exceptions(bad_date)
                .unwrap_err()
                .to_string()
                .contains("not a YYYY-MM-DD date")
        );
        // The repository's own file parses.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        parse_exceptions(&std::fs::read_to_string(root.join(EXCEPTIONS)).unwrap()).unwrap();
    }

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(today().len(), 10);
    }
}
