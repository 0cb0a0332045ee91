# The role GitHub Actions assumes to deploy one environment: through GitHub's OIDC tokens (no
# long-lived AWS keys), only from this repository's GitHub environment(s), and allowed exactly
# the calls `cargo xtask deploy|rollback|status` and the image push make. Every action is named;
# none is a wildcard.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# Never another environment's resources; reading the ledgers this environment promotes from.
module "isolation" {
  source = "../isolation"

  partition          = data.aws_partition.current.partition
  other_environments = var.other_environments
}

locals {
  # The permissions live in infrastructure/policies/deploy.json.tftpl, which
  # `cargo xtask infra policy deploy <env>` renders with the same variables.
  deploy_policy = templatefile("${path.module}/../../policies/deploy.json.tftpl", {
    partition                 = data.aws_partition.current.partition
    account_id                = data.aws_caller_identity.current.account_id
    region                    = var.region
    cluster_name              = var.cluster_name
    service_names             = var.service_names
    task_families             = var.task_families
    pass_role_names           = var.pass_role_names
    ecr_repository_names      = var.ecr_repository_names
    ledger_prefix             = var.ledger_prefix
    read_only_ledger_prefixes = var.read_only_ledger_prefixes
    load_balancer_name        = var.load_balancer_name
    isolation_statements      = module.isolation.deny_statements
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

    # Only jobs that run in one of these GitHub environments (whose protection rules, e.g.
    # required reviewers for production, apply first).
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = [for environment in var.github_environments : "repo:${var.github_repository}:environment:${environment}"]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = var.role_name
  description          = "GitHub Actions deploys to ${var.cluster_name}"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  permissions_boundary = var.permissions_boundary_arn
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "deploy" {
  name   = "deploy"
  role   = aws_iam_role.this.id
  policy = local.deploy_policy
}
