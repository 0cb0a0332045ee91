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
  account_id = data.aws_caller_identity.current.account_id
  iam_prefix = "arn:${data.aws_partition.current.partition}:iam::${local.account_id}"
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

data "aws_iam_policy_document" "terraform" {
  # The environment's state and its lock file (S3-native locking).
  statement {
    sid       = "ListTheStateBucket"
    actions   = ["s3:ListBucket"]
    resources = [var.state_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.environment}/*"]
    }
  }

  statement {
    sid       = "ReadAndWriteTheState"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.state_bucket_arn}/${var.environment}/*"]
  }

  statement {
    sid       = "EncryptTheState"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [var.state_key_arn]
  }

  # The roles of the environment (ECS tasks, flow logs, RDS monitoring, deploy), all named
  # eventflow-<env>-*.
  statement {
    sid = "ManageTheEnvironmentsRoles"
    actions = [
      "iam:AttachRolePolicy",
      "iam:CreateRole",
      "iam:DeleteRole",
      "iam:DeleteRolePolicy",
      "iam:DetachRolePolicy",
      "iam:GetRole",
      "iam:GetRolePolicy",
      "iam:ListAttachedRolePolicies",
      "iam:ListInstanceProfilesForRole",
      "iam:ListRolePolicies",
      "iam:PassRole",
      "iam:PutRolePolicy",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:UpdateAssumeRolePolicy",
      "iam:UpdateRole",
      "iam:UpdateRoleDescription",
    ]
    resources = ["${local.iam_prefix}:role/eventflow-${var.environment}-*"]
  }

  # Never its own role, nor another environment's Terraform role.
  statement {
    sid       = "NotTheTerraformRoles"
    effect    = "Deny"
    actions   = ["iam:*"]
    resources = ["${local.iam_prefix}:role/eventflow-*-github-terraform"]
  }

  statement {
    sid       = "ReadTheGitHubProvider"
    actions   = ["iam:GetOpenIDConnectProvider"]
    resources = [var.oidc_provider_arn]
  }

  # The environments look the provider up by its URL. Listing takes no resource ARN.
  statement {
    sid       = "FindTheGitHubProvider"
    actions   = ["iam:ListOpenIDConnectProviders"]
    resources = ["*"]
  }

  # First use of ECS, RDS, load balancing and friends in the account.
  statement {
    sid       = "CreateServiceLinkedRoles"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["${local.iam_prefix}:role/aws-service-role/*"]

    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values = [
        "ecs.amazonaws.com",
        "elasticloadbalancing.amazonaws.com",
        "rds.amazonaws.com",
        "wafv2.amazonaws.com",
      ]
    }
  }
}

resource "aws_iam_role_policy" "terraform" {
  name   = "terraform-${var.environment}"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.terraform.json
}
