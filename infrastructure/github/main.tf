# GitHub's side of EventFlow's delivery, reviewed like any other change: the repository's
# environments, who approves production, which branches may deploy where, and the names of the
# secrets each environment holds. Production's safety rests on these: the AWS roles trust only
# jobs running in the named environment (modules/github-oidc, modules/terraform-role).

locals {
  deployments = {
    # Staging deploys develop's commits once CI passed for them. cd-staging runs on
    # `workflow_run` of ci, and such a run's ref is always the default branch (main): GitHub
    # checks the environment's branch policy against that ref, so the policy admits main's
    # reviewed workflows, and cd-staging itself picks develop's pushes (its `branches:` filter
    # and `if:`). The notification secrets (SLACK_WEBHOOK_URL, SMTP_URL and the recipients,
    # NOTIFY_EMAIL) are environment secrets, like every other: only the jobs that deploy, roll
    # back or report a release can read them, never a branch's CI.
    staging = {
      branch = "main"
      secret_names = [
        "ADMIN_API_TOKEN",
        "JWT_SECRET",
        "NOTIFY_EMAIL",
        "SLACK_WEBHOOK_URL",
        "SMTP_URL",
      ]
    }
    # Production deploys main, after a required reviewer approves (cd-production, also on
    # `workflow_run` of ci).
    production = {
      branch = "main"
      secret_names = [
        "EVENTFLOW_SMOKE_API_KEY",
        "EVENTFLOW_TEST_LISTENER_KEY",
        "JWT_SECRET",
        "NOTIFY_EMAIL",
        "SLACK_WEBHOOK_URL",
        "SMTP_URL",
      ]
    }
  }

  # (environment, name) of every secret given a sealed value here.
  managed_secrets = merge([
    for env, cfg in local.deployments : {
      for name in cfg.secret_names : "${env}/${name}" => { environment = env, name = name }
      if contains(nonsensitive(keys(lookup(var.encrypted_secrets, env, {}))), name)
    }
  ]...)
}

resource "github_repository_environment" "staging" {
  repository  = var.repository
  environment = "staging"

  deployment_branch_policy {
    protected_branches     = false
    custom_branch_policies = true
  }
}

resource "github_repository_environment_deployment_policy" "staging" {
  repository     = var.repository
  environment    = github_repository_environment.staging.environment
  branch_pattern = local.deployments.staging.branch
}

# Pull requests' plans (ci.yml's infra-plan job) assume the read-only plan roles from here: no
# reviewers, no secrets, any branch.
resource "github_repository_environment" "plan" {
  repository  = var.repository
  environment = "plan"
}

resource "github_repository_environment" "production" {
  repository          = var.repository
  environment         = "production"
  prevent_self_review = true
  can_admins_bypass   = false

  reviewers {
    teams = var.production_reviewer_team_ids
    users = var.production_reviewer_user_ids
  }

  deployment_branch_policy {
    protected_branches     = false
    custom_branch_policies = true
  }

  lifecycle {
    precondition {
      condition     = length(var.production_reviewer_team_ids) + length(var.production_reviewer_user_ids) > 0
      error_message = "production needs at least one required reviewer: set production_reviewer_team_ids or production_reviewer_user_ids."
    }
  }
}

resource "github_repository_environment_deployment_policy" "production" {
  repository     = var.repository
  environment    = github_repository_environment.production.environment
  branch_pattern = local.deployments.production.branch
}

# Only sealed values (encrypted for the repository's key) ever reach the state; a secret
# without one is only declared here by name, and set with `gh secret set --env`.
resource "github_actions_environment_secret" "this" {
  for_each = local.managed_secrets

  repository      = var.repository
  environment     = each.value.environment
  secret_name     = each.value.name
  encrypted_value = var.encrypted_secrets[each.value.environment][each.value.name]

  depends_on = [github_repository_environment.staging, github_repository_environment.production]
}
