# The `production-rollback` GitHub environment: where rollback-production.yml's job runs. It
# has its own reviewers, the on-call rota, so that a rollback at night waits for the engineer on
# call rather than for the release approvers of `production`; it may only run from `main`. The
# on-call engineer may approve their own rollback (it only returns to a release production
# already verified); GitHub records who approved. Production's deploy role trusts this
# environment too (environments/production, github_environments).
#
# Its secrets, JWT_SECRET, EVENTFLOW_SMOKE_API_KEY, EVENTFLOW_TEST_LISTENER_KEY and the
# notification secrets SLACK_WEBHOOK_URL, SMTP_URL and NOTIFY_EMAIL (the same values as
# `production`'s), are set by hand (docs/runbook.md, "Roll back now"): secret values never go
# through Terraform state.

variable "on_call_team_id" {
  description = "The GitHub team (numeric id) of the on-call rota: the reviewers of production-rollback."
  type        = number
}

resource "github_repository_environment" "production_rollback" {
  repository          = var.repository
  environment         = "production-rollback"
  prevent_self_review = false

  reviewers {
    teams = [var.on_call_team_id]
  }

  deployment_branch_policy {
    protected_branches     = true
    custom_branch_policies = false
  }
}
