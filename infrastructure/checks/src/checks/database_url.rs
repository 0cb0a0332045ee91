//! `DATABASE_URL`: the backend reaches RDS (`rds.force_ssl=1`) over TLS that it verifies, so the
//! URL format the operator is given (the Secrets Manager secret's description and the RDS
//! module's `database_url_format` output) ends in `sslmode=verify-full` with the CA bundle the
//! backend image ships, and the instance's certificate comes from a root in that bundle.

use super::{Analysis, at, known_str};
use crate::model::Finding;
use crate::walk;

/// The query every production `DATABASE_URL` ends with: the path is where `backend/Dockerfile`
/// puts `backend/certs/rds-ca/eu-central-1-bundle.pem`.
pub const REQUIRED_QUERY: &str =
    "?sslmode=verify-full&sslrootcert=/etc/eventflow/rds-ca/eu-central-1-bundle.pem";
/// The RDS certificate authorities whose roots are in the shipped bundle.
pub const BUNDLED_CAS: [&str; 3] = ["rds-ca-rsa2048-g1", "rds-ca-rsa4096-g1", "rds-ca-ecc384-g1"];
const SECRET_KEY: &str = "database_url";
const FORMAT_OUTPUT: &str = "database_url_format";

pub fn check(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (inst, r, key, v) in a.resources("aws_secretsmanager_secret") {
        if key.as_deref() != Some(SECRET_KEY) {
            continue;
        }
        let description = known_str(v, &["description"]).unwrap_or("");
        if !description.contains(REQUIRED_QUERY) {
            findings.push(Finding::new(
                &r.file,
                format!("{}: the DATABASE_URL format in its description does not end with {REQUIRED_QUERY}: the backend refuses anything weaker; put that query in the format", at(inst, r, key)),
            ));
        }
    }
    for module in a.tree.modules.values() {
        for output in module.blocks("output") {
            if output.label(0) != FORMAT_OUTPUT {
                continue;
            }
            let text: String = output
                .attr("value")
                .map(|v| walk::literals(v).concat())
                .unwrap_or_default();
            // An environment's output only forwards the module's (no literal of its own).
            if !text.is_empty() && !text.contains(REQUIRED_QUERY) {
                findings.push(Finding::new(
                    output.file,
                    format!("output \"{FORMAT_OUTPUT}\" does not end with {REQUIRED_QUERY}: the backend refuses anything weaker; put that query in the format"),
                ));
            }
        }
    }
    for (inst, r, key, v) in a.resources("aws_db_instance") {
        match known_str(v, &["ca_cert_identifier"]) {
            Some(ca) if BUNDLED_CAS.contains(&ca) => {}
            other => findings.push(Finding::new(
                &r.file,
                format!(
                    "{}: ca_cert_identifier is {}: set it to one of {} (the roots in backend/certs/rds-ca/eu-central-1-bundle.pem), or the backend cannot verify the database",
                    at(inst, r, key),
                    other.map_or("not set".to_owned(), |ca| format!("`{ca}`")),
                    BUNDLED_CAS.join(", ")
                ),
            )),
        }
        let has_secret = a
            .resources("aws_secretsmanager_secret")
            .any(|(i, _, k, _)| i.root == inst.root && k.as_deref() == Some(SECRET_KEY));
        if !has_secret {
            findings.push(Finding::new(
                format!("{}/main.tf", inst.root),
                format!("{} has a database but no `{SECRET_KEY}` secret giving the DATABASE_URL format (modules/secrets)", inst.root),
            ));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::*;

    #[test]
    fn the_repository_asks_for_verify_full_with_the_shipped_bundle() {
        assert_clean(check(repository()));
        let secrets = repository()
            .resources("aws_secretsmanager_secret")
            .filter(|(_, _, k, _)| k.as_deref() == Some(SECRET_KEY))
            .count();
        assert!(
            secrets >= 2,
            "staging's and production's database_url secrets were not evaluated"
        );
        let repo_root = crate::infrastructure_dir().join("..");
        let dockerfile = std::fs::read_to_string(repo_root.join("backend/Dockerfile")).unwrap();
        let path = REQUIRED_QUERY.split("sslrootcert=").nth(1).unwrap();
        assert!(
            dockerfile.contains(&format!("eu-central-1-bundle.pem {path}")),
            "backend/Dockerfile no longer puts the bundle at {path}"
        );
    }

    #[test]
    fn a_weaker_url_format_or_an_unbundled_ca_is_caught() {
        let a = snippet(&[
            (
                "modules/secrets/main.tf",
                r#"
                locals {
                  secrets = {
                    database_url = "postgres://USER:PASSWORD@HOST:5432/eventflow?sslmode=require"
                  }
                }
                resource "aws_secretsmanager_secret" "this" {
                  for_each    = local.secrets
                  name        = "eventflow/${each.key}"
                  description = each.value
                }
                "#,
            ),
            (
                "modules/rds/main.tf",
                r#"
                resource "aws_db_instance" "this" {
                  identifier         = "eventflow-staging"
                  ca_cert_identifier = "rds-ca-2019"
                }
                output "database_url_format" {
                  value = "postgres://USER:PASSWORD@${aws_db_instance.this.address}:5432/eventflow?sslmode=verify-ca&sslrootcert=/etc/eventflow/rds-ca/eu-central-1-bundle.pem"
                }
                "#,
            ),
            (
                "environments/staging/main.tf",
                r#"
                module "secrets" { source = "../../modules/secrets" }
                module "rds" { source = "../../modules/rds" }
                "#,
            ),
        ]);
        let findings = check(&a);
        assert_finds(
            &findings,
            "modules/secrets/main.tf",
            &[
                "does not end with ?sslmode=verify-full&sslrootcert=/etc/eventflow/rds-ca/eu-central-1-bundle.pem",
            ],
        );
        assert_finds(
            &findings,
            "modules/rds/main.tf",
            &["output \"database_url_format\" does not end with ?sslmode=verify-full"],
        );
        assert_finds(
            &findings,
            "modules/rds/main.tf",
            &["ca_cert_identifier is `rds-ca-2019`: set it to one of rds-ca-rsa2048-g1"],
        );
    }

    #[test]
    fn a_database_without_a_url_secret_is_caught() {
        let a = snippet(&[
            (
                "modules/rds/main.tf",
                r#"resource "aws_db_instance" "this" { ca_cert_identifier = "rds-ca-rsa2048-g1" }"#,
            ),
            (
                "environments/production/main.tf",
                r#"module "rds" { source = "../../modules/rds" }"#,
            ),
        ]);
        assert_finds(
            &check(&a),
            "environments/production/main.tf",
            &["has a database but no `database_url` secret"],
        );
    }
}
