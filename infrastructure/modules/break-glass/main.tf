# The on-call engineer's break-glass role: what a human needs at 3 a.m. without GitHub, and
# nothing more. It rolls back (the deploy role's own permissions, so `cargo xtask rollback|status`
# behave exactly as in CI), reads what diagnosis needs (ECS, logs, metrics, the load balancer,
# RDS), and opens the database shell (ECS Exec), the only role allowed ecs:ExecuteCommand.
# Assumed only with MFA, for an hour at most; every assumption and every exec session is in
# CloudTrail, and the sessions' keystrokes in the cluster's exec log group.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
  cluster    = "arn:${local.partition}:ecs:${local.region}:${local.account_id}"
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole", "sts:SetSourceIdentity"]

    principals {
      type        = "AWS"
      identifiers = var.trusted_principal_arns
    }

    condition {
      test     = "Bool"
      variable = "aws:MultiFactorAuthPresent"
      values   = ["true"]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = var.role_name
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
  permissions_boundary = var.permissions_boundary_arn
}

# Rolling back is a deploy-engine command: the same permissions as the deploy role.
resource "aws_iam_role_policy" "rollback" {
  role   = aws_iam_role.this.id
  name   = "rollback"
  policy = var.deploy_policy_json
}

data "aws_iam_policy_document" "diagnose" {
  #checkov:skip=CKV_AWS_356:Describe and metric reads take no resource ARN; they read only.
  #checkov:skip=CKV_AWS_111:Describe and metric reads take no resource ARN; they read only.
  statement {
    sid = "ReadWhatRuns"
    actions = [
      "ecs:Describe*", "ecs:List*",
      "elasticloadbalancing:Describe*",
      "cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics", "cloudwatch:ListMetrics", "cloudwatch:DescribeAlarms",
      "rds:DescribeDBInstances", "rds:DescribeDBSnapshots", "rds:DescribeDBLogFiles",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "ReadTheLogs"
    actions   = ["logs:FilterLogEvents", "logs:GetLogEvents", "logs:DescribeLogStreams", "logs:StartLiveTail", "logs:StopLiveTail"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/ecs/${var.cluster_name}/*", "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/rds/instance/${var.cluster_name}/*"]
  }

  statement {
    sid       = "DecryptTheLogs"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "diagnose" {
  role   = aws_iam_role.this.id
  name   = "diagnose"
  policy = data.aws_iam_policy_document.diagnose.json
}

# The database shell: start it, exec into it, stop it. Only while it exists.
data "aws_iam_policy_document" "database_shell" {
  count = var.database_shell == null ? 0 : 1

  statement {
    sid       = "StartTheShell"
    actions   = ["ecs:RunTask"]
    resources = ["${local.cluster}:task-definition/${var.database_shell.task_family}:*"]

    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = ["${local.cluster}:cluster/${var.cluster_name}"]
    }
  }

  statement {
    sid       = "ExecIntoTheShell"
    actions   = ["ecs:ExecuteCommand"]
    resources = ["${local.cluster}:task/${var.cluster_name}/*"]

    condition {
      test     = "StringEquals"
      variable = "ecs:container-name"
      values   = ["psql"]
    }
  }

  # StopTask knows no container name: scoped to the cluster's tasks instead.
  statement {
    sid       = "StopTheShell"
    actions   = ["ecs:StopTask"]
    resources = ["${local.cluster}:task/${var.cluster_name}/*"]
  }

  statement {
    sid       = "PassTheShellsRoles"
    actions   = ["iam:PassRole"]
    resources = [for name in var.database_shell.pass_roles : "arn:${local.partition}:iam::${local.account_id}:role/${name}"]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "EncryptTheSession"
    actions   = ["kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "database_shell" {
  count = var.database_shell == null ? 0 : 1

  role   = aws_iam_role.this.id
  name   = "database-shell"
  policy = data.aws_iam_policy_document.database_shell[0].json
}
