# The role a pull request's plan runs with (`cargo xtask infra plan <env>` in ci.yml's
# infra-plan job): read only, its own state, the other environments denied. Assumed only by jobs
# in the repository's GitHub environment `plan`, which has no secrets and no reviewers, so a
# pull request's plan needs nobody's approval and can change nothing.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

module "isolation" {
  source = "../isolation"

  partition          = data.aws_partition.current.partition
  other_environments = [for other in var.other_environments : merge(other, { ledger_readable = false })]
}

locals {
  plan_policy = templatefile("${path.module}/../../policies/plan.json.tftpl", {
    partition            = data.aws_partition.current.partition
    account_id           = data.aws_caller_identity.current.account_id
    environment          = var.environment
    state_bucket_name    = var.state_bucket_name
    state_key_arn        = var.state_key_arn
    isolation_statements = module.isolation.deny_statements
  })
}

data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "GitHubActionsOfThisRepositoryAndEnvironment"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:environment:${var.github_environment}"]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = var.role_name
  description          = "GitHub Actions plans EventFlow ${var.environment} for pull requests (read only)"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "plan" {
  name   = "plan-${var.environment}"
  role   = aws_iam_role.this.id
  policy = local.plan_policy
}
