//! `secrets.*` and `vars.*`: from a file of `KEY=VALUE` lines (`vars.KEY=VALUE` for variables),
//! or random fakes made for the run. With a file, a name it lacks is an error, so a mistyped
//! secret name fails the rehearsal. Every secret value is masked as `***` in what is printed.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

#[derive(Debug, Default)]
pub struct Store {
    file: Option<PathBuf>,
    secrets: RefCell<BTreeMap<String, String>>,
    vars: RefCell<BTreeMap<String, String>>,
    /// Secret values that are no `secrets.*`: the sandbox credentials stand-ins hand over.
    also_masked: RefCell<Vec<String>>,
}

impl Store {
    /// Fakes for every name asked for.
    pub fn fakes() -> Store {
        Store::default()
    }

    pub fn from_file(path: &Path) -> Result<Store> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading the secrets file {}: pass an existing --secrets-file",
                path.display()
            )
        })?;
        let store = Store::parse(&text).with_context(|| format!("in {}", path.display()))?;
        Ok(Store {
            file: Some(path.to_owned()),
            ..store
        })
    }

    fn parse(text: &str) -> Result<Store> {
        let store = Store::default();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                bail!("line {} is not KEY=VALUE", number + 1);
            };
            match key.trim().strip_prefix("vars.") {
                Some(var) => store
                    .vars
                    .borrow_mut()
                    .insert(var.to_owned(), value.to_owned()),
                None => store
                    .secrets
                    .borrow_mut()
                    .insert(key.trim().to_owned(), value.to_owned()),
            };
        }
        Ok(store)
    }

    pub fn secret(&self, name: &str) -> Result<String> {
        self.lookup(&self.secrets, name, "secret", "")
    }

    pub fn var(&self, name: &str) -> Result<String> {
        self.lookup(&self.vars, name, "variable", "vars.")
    }

    fn lookup(
        &self,
        map: &RefCell<BTreeMap<String, String>>,
        name: &str,
        what: &str,
        prefix: &str,
    ) -> Result<String> {
        if let Some(value) = map.borrow().get(name) {
            return Ok(value.clone());
        }
        if let Some(file) = &self.file {
            bail!(
                "{what} `{name}` is not in {}: add a `{prefix}{name}=…` line, or fix the name in the workflow",
                file.display()
            );
        }
        let fake = format!("fake-{}-{}", name.to_ascii_lowercase(), random_hex());
        map.borrow_mut().insert(name.to_owned(), fake.clone());
        Ok(fake)
    }

    /// Masks `values` too from now on.
    pub fn also_mask(&self, values: impl IntoIterator<Item = String>) {
        self.also_masked.borrow_mut().extend(values);
    }

    /// Every secret value in `text` replaced with `***`.
    pub fn mask(&self, text: &str) -> String {
        let secrets = self.secrets.borrow();
        let also = self.also_masked.borrow();
        let mut values: Vec<&String> = secrets
            .values()
            .chain(also.iter())
            .filter(|v| !v.is_empty())
            .collect();
        // Longest first, so a secret that contains another is masked whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        let mut out = text.to_owned();
        for value in values {
            out = out.replace(value.as_str(), "***");
        }
        out
    }
}

/// 16 random hex digits from the standard library's per-process random hash keys.
fn random_hex() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_gives_secrets_and_vars_and_refuses_unknown_names() {
        let store = Store {
            file: Some("ci.secrets".into()),
            ..Store::parse("# local\nTOKEN=abc=def\nvars.AWS_REGION=eu-west-1\n\n").unwrap()
        };
        assert_eq!(store.secret("TOKEN").unwrap(), "abc=def");
        assert_eq!(store.var("AWS_REGION").unwrap(), "eu-west-1");
        assert_eq!(
            store.secret("TOKNE").unwrap_err().to_string(),
            "secret `TOKNE` is not in ci.secrets: add a `TOKNE=…` line, or fix the name in the workflow"
        );
        assert!(store.var("TOKEN").is_err(), "a secret is not a variable");
        assert!(Store::parse("no equals sign").is_err());
    }

    #[test]
    fn fakes_are_random_stable_within_a_run_and_masked() {
        let store = Store::fakes();
        let token = store.secret("TOKEN").unwrap();
        assert!(token.starts_with("fake-token-"), "{token}");
        assert_eq!(store.secret("TOKEN").unwrap(), token);
        assert_ne!(Store::fakes().secret("TOKEN").unwrap(), token);
        assert_eq!(store.mask(&format!("token={token}!")), "token=***!");
        let region = store.var("AWS_REGION").unwrap();
        assert_eq!(store.mask(&region), region, "variables are not secret");
        store.also_mask(["handed-over-key".to_owned()]);
        assert_eq!(store.mask("key handed-over-key"), "key ***");
    }
}
