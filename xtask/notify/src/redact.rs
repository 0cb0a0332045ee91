//! Masking secrets in text that is about to be shown.

/// `text` with every secret (of a length worth the name) replaced by `***`, longest first so a
/// secret that contains another is masked whole.
pub(crate) fn redact(text: &str, secrets: &[String]) -> String {
    let mut secrets: Vec<&str> = secrets
        .iter()
        .map(String::as_str)
        .filter(|s| s.len() >= 4)
        .collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_owned();
    for secret in secrets {
        out = out.replace(secret, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_secret_is_masked_whole() {
        let secrets = [
            "/services/T/B/tok".to_owned(),
            "https://h/services/T/B/tok".to_owned(),
        ];
        assert_eq!(
            redact("posting to https://h/services/T/B/tok failed", &secrets),
            "posting to *** failed"
        );
        assert_eq!(redact("GET /services/T/B/tok", &secrets), "GET ***");
        assert_eq!(redact("pw abc", &["abc".to_owned()]), "pw abc");
    }
}
