# The role GitHub Actions assumes to run Terraform for one environment (`cargo xtask infra
# plan|apply <env>`), separate from the deploy role, which may only roll out releases.
#
# Terraform creates networks, databases, load balancers, keys and roles, so this role is broad,
# but written out: the services the environment uses (no AWS-managed policy), IAM only on the
# environment's own roles and only with the environment's permissions boundary attached, its own
# state in the state bucket, and an explicit Deny on every other environment's resources. Only
# jobs of the repository's GitHub environment may assume it: give that environment required
# reviewers. The boundary (policies/boundary.json.tftpl) is created here too, beside the role.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# The Terraform role never touches another environment, its ledger included.
module "isolation" {
  source = "../isolation"

  partition          = data.aws_partition.current.partition
  other_environments = [for other in var.other_environments : merge(other, { ledger_readable = false })]
}

# The environment's roles may read the ledgers the environment promotes from.
module "boundary_isolation" {
  source = "../isolation"

  partition          = data.aws_partition.current.partition
  other_environments = var.other_environments
}

locals {
  boundary_policy_name = "eventflow-${var.environment}-boundary"
  # Built from the name, so the policies render without AWS.
  boundary_policy_arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:policy/${local.boundary_policy_name}"

  # The permissions live in infrastructure/policies/terraform.json.tftpl, which
  # `cargo xtask infra policy terraform <env>` renders with the same variables.
  terraform_policy = templatefile("${path.module}/../../policies/terraform.json.tftpl", {
    partition            = data.aws_partition.current.partition
    account_id           = data.aws_caller_identity.current.account_id
    environment          = var.environment
    state_bucket_name    = var.state_bucket_name
    state_key_arn        = var.state_key_arn
    boundary_policy_arn  = local.boundary_policy_arn
    isolation_statements = module.isolation.deny_statements
  })

  boundary_policy = templatefile("${path.module}/../../policies/boundary.json.tftpl", {
    partition            = data.aws_partition.current.partition
    account_id           = data.aws_caller_identity.current.account_id
    environment          = var.environment
    isolation_statements = module.boundary_isolation.deny_statements
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

# The ceiling of every role the environment's Terraform creates (modules/ecs, vpc, rds,
# github-oidc set it as permissions_boundary).
resource "aws_iam_policy" "boundary" {
  name        = local.boundary_policy_name
  description = "Permissions boundary of EventFlow ${var.environment}'s roles"
  policy      = local.boundary_policy
}

resource "aws_iam_role_policy" "terraform" {
  name   = "terraform-${var.environment}"
  role   = aws_iam_role.this.id
  policy = local.terraform_policy
}
