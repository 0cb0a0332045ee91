//! RDS: every database is encrypted and private; production's has deletion protection, a
//! Multi-AZ standby and at least a week of backups.

use super::{Analysis, at, bool_at, number_at, show};
use crate::eval::field;
use crate::model::Finding;

/// The environment whose database must survive a zone outage and an accidental delete.
pub const PRODUCTION: &str = "environments/production";
/// Days of point-in-time recovery production keeps at least.
pub const MIN_PRODUCTION_BACKUP_DAYS: f64 = 7.0;

pub fn check(a: &Analysis<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut production_databases = 0;
    for (inst, r, key, v) in a.resources("aws_db_instance") {
        let here = at(inst, r, key);
        let inputs = format!("{}/terraform.tfvars", inst.root);
        if bool_at(v, &["storage_encrypted"]) != Some(true) {
            findings.push(Finding::new(
                &r.file,
                format!("{here}: storage_encrypted is {}: set storage_encrypted = true (with kms_key_id)", show(field(v, &["storage_encrypted"]))),
            ));
        }
        if bool_at(v, &["publicly_accessible"]) == Some(true) {
            findings.push(Finding::new(&r.file, format!("{here}: publicly_accessible = true: the database is for the VPC only; set it to false")));
        }
        if inst.root != PRODUCTION {
            continue;
        }
        production_databases += 1;
        if bool_at(v, &["deletion_protection"]) != Some(true) {
            findings.push(Finding::new(
                &r.file,
                format!("{here}: production's database has deletion_protection {}: set it to true (db_deletion_protection in {inputs})", show(field(v, &["deletion_protection"]))),
            ));
        }
        if bool_at(v, &["multi_az"]) != Some(true) {
            findings.push(Finding::new(
                &r.file,
                format!("{here}: production's database has multi_az {}: set it to true (db_multi_az in {inputs}) for a standby in the other zone", show(field(v, &["multi_az"]))),
            ));
        }
        match number_at(v, &["backup_retention_period"]) {
            Some(days) if days >= MIN_PRODUCTION_BACKUP_DAYS => {}
            _ => findings.push(Finding::new(
                &r.file,
                format!(
                    "{here}: production's database keeps backups {} days: keep at least {MIN_PRODUCTION_BACKUP_DAYS} (db_backup_retention_days in {inputs})",
                    show(field(v, &["backup_retention_period"]))
                ),
            )),
        }
        if bool_at(v, &["skip_final_snapshot"]) == Some(true) {
            findings.push(Finding::new(&r.file, format!("{here}: production's database skips its final snapshot: set skip_final_snapshot = false")));
        }
    }
    if a.tree.module(PRODUCTION).is_some() && production_databases == 0 {
        findings.push(Finding::new(
            format!("{PRODUCTION}/main.tf"),
            "production creates no aws_db_instance: call modules/rds",
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testing::*;

    #[test]
    fn databases_are_encrypted_and_production_is_protected() {
        assert_clean(check(repository()));
        let production = repository()
            .resources("aws_db_instance")
            .filter(|(i, ..)| i.root == PRODUCTION)
            .count();
        assert_eq!(production, 1, "production's database was not evaluated");
    }

    #[test]
    fn an_unprotected_production_database_is_caught() {
        let a = snippet(&[
            (
                "modules/db/main.tf",
                r#"
                variable "multi_az" { type = bool }
                variable "backups" { type = number }
                resource "aws_db_instance" "this" {
                  identifier              = "eventflow-production"
                  storage_encrypted       = false
                  multi_az                = var.multi_az
                  backup_retention_period = var.backups
                }
                "#,
            ),
            (
                "environments/production/main.tf",
                r#"
                variable "db_multi_az" { type = bool }
                module "db" {
                  source   = "../../modules/db"
                  multi_az = var.db_multi_az
                  backups  = 1
                }
                "#,
            ),
            (
                "environments/production/terraform.tfvars",
                "db_multi_az = false",
            ),
        ]);
        let findings = check(&a);
        let file = "modules/db/main.tf";
        assert_finds(
            &findings,
            file,
            &["storage_encrypted is false", "storage_encrypted = true"],
        );
        assert_finds(
            &findings,
            file,
            &[
                "deletion_protection not set",
                "db_deletion_protection in environments/production/terraform.tfvars",
            ],
        );
        assert_finds(&findings, file, &["multi_az false", "db_multi_az"]);
        assert_finds(&findings, file, &["keeps backups 1 days", "at least 7"]);
    }

    #[test]
    fn staging_may_run_in_one_zone_but_not_unencrypted() {
        let a = snippet(&[(
            "environments/staging/main.tf",
            r#"resource "aws_db_instance" "this" {
                 storage_encrypted   = true
                 multi_az            = false
                 publicly_accessible = true
               }"#,
        )]);
        let findings = check(&a);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_finds(
            &findings,
            "environments/staging/main.tf",
            &["publicly_accessible = true"],
        );
    }
}
