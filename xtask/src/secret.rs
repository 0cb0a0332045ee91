//! Secrets: values that must never reach a terminal, a log, an error or a report.
//!
//! Every value marked secret is registered here the moment it is known; everything the pipeline
//! prints or writes passes through [`redact`], so a secret that a child process echoes back is
//! masked too.

use std::borrow::Cow;
use std::sync::Mutex;

pub const MASK: &str = "***";

static KNOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A value that prints as `***` and is registered for redaction.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        let value = value.into();
        register(&value);
        Secret(value)
    }

    /// The clear value, for handing to a child process or a request; never for printing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(MASK)
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(MASK)
    }
}

/// Remembers `value` so that [`redact`] masks it wherever it shows up.
pub fn register(value: &str) {
    // Very short values would mask ordinary words and digits; they are not secrets worth the name.
    if value.len() < 4 {
        return;
    }
    let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    if !known.iter().any(|k| k == value) {
        known.push(value.to_owned());
        // Longest first, so a secret that contains another is masked whole.
        known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    }
}

/// `text` with every registered secret replaced by `***`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    if !known.iter().any(|k| text.contains(k.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_owned();
    for k in known.iter() {
        out = out.replace(k.as_str(), MASK);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_print_masked() {
        let s = Secret::new("hunter2-password");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(s.expose(), "hunter2-password");
    }

    #[test]
    fn registered_values_are_redacted_wherever_they_appear() {
        register("postgres://u:pw-5f1e@db/app");
        register("pw-5f1e");
        assert_eq!(
            redact("connecting to postgres://u:pw-5f1e@db/app (pw-5f1e)"),
            "connecting to *** (***)"
        );
        assert!(matches!(redact("nothing secret here"), Cow::Borrowed(_)));
    }
}
