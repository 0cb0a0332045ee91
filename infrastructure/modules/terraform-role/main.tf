# The role GitHub Actions assumes to run Terraform for one environment (`cargo xtask infra
# plan|apply <env>`), separate from the deploy role, which may only roll out releases.
#
# Terraform creates networks, databases, load balancers, keys and roles, so this role is broad:
# AWS's PowerUserAccess (everything but IAM and the organization), IAM only on the
# environment's own roles, and its own state in the state bucket. Only jobs of the
# repository's GitHub environment may assume it: give that environment required reviewers.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  # The permissions live in infrastructure/policies/terraform.json.tftpl, which
  # `cargo xtask infra policy terraform <env>` renders with the same variables.
  terraform_policy = templatefile("${path.module}/../../policies/terraform.json.tftpl", {
    partition         = data.aws_partition.current.partition
    account_id        = data.aws_caller_identity.current.account_id
    environment       = var.environment
    state_bucket_name = var.state_bucket_name
    state_key_arn     = var.state_key_arn
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
  description          = "GitHub Actions runs Terraform for EventFlow ${var.environment}"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy_attachment" "power_user" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/PowerUserAccess"
}

resource "aws_iam_role_policy" "terraform" {
  name   = "terraform-${var.environment}"
  role   = aws_iam_role.this.id
  policy = local.terraform_policy
}
