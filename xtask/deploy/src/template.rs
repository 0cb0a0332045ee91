//! Terraform's template revision: what every new revision of an app is built from.
//!
//! Terraform registers the app's task definition in a family of its own (`<family>-template`),
//! with the secrets, variables, sizes and roles it declares. A deploy builds its revision from the
//! template's newest revision, so what an apply changed ships with the next deploy, and shows the
//! difference against what runs. Copying the running revision instead would register each deploy
//! what the previous one ran, and a Terraform change would never reach a task.

use anyhow::{Context, Result};
use aws_sdk_ecs::types::TaskDefinition;

use crate::aws::{ErrorKind, Platform};
use crate::taskdef;

/// The base of the next revision in `family`: the newest revision of `template` (its family name)
/// when the environment names one, else the revision that `running` is. The second value says
/// which, for the plan.
pub async fn base_revision<P: Platform>(
    platform: &P,
    running: &TaskDefinition,
    template: Option<&str>,
    family: &str,
) -> Result<(TaskDefinition, String)> {
    let Some(template) = template else {
        return Ok((
            running.clone(),
            format!(
                "new revision copies {} (deploy.json names no template_family: Terraform's task-definition changes are not picked up)",
                taskdef::describe(running)
            ),
        ));
    };
    let (found, _) = platform
        .describe_task_definition(template)
        .await
        .map_err(|e| {
            let fix = if e.kind == ErrorKind::NotFound {
                format!(
                    ": Terraform registers it; run the environment's `terraform apply`, or fix apps.*.template_family in deploy.json ({e})"
                )
            } else {
                format!(": {e}")
            };
            anyhow::anyhow!("reading Terraform's template {template}{fix}")
        })
        .with_context(|| format!("building the next revision of {family}"))?;
    let said = format!(
        "new revision from Terraform's template {}",
        taskdef::describe(&found)
    );
    Ok((taskdef::from_template(&found, family), said))
}
