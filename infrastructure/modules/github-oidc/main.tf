# The role GitHub Actions assumes to deploy one environment: through GitHub's OIDC tokens (no
# long-lived AWS keys), only from this repository's GitHub environment(s), and allowed exactly
# the calls `cargo xtask deploy|rollback|status` and the image push make. Every action is named;
# none is a wildcard.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  arn_prefix = "arn:${local.partition}"

  service_arns = [for service in var.service_names : "${local.arn_prefix}:ecs:${var.region}:${local.account_id}:service/${var.cluster_name}/${service}"]
  family_arns  = [for family in var.task_families : "${local.arn_prefix}:ecs:${var.region}:${local.account_id}:task-definition/${family}:*"]

  ssm_parameter_arn = "${local.arn_prefix}:ssm:${var.region}:${local.account_id}:parameter"
  ledger_arns = [
    "${local.ssm_parameter_arn}${var.ledger_prefix}/releases",
    "${local.ssm_parameter_arn}${var.ledger_prefix}/releases/*",
    "${local.ssm_parameter_arn}${var.ledger_prefix}/deploy-lock",
  ]
  read_ledger_arns = flatten([
    for prefix in var.read_only_ledger_prefixes : [
      "${local.ssm_parameter_arn}${prefix}/releases",
      "${local.ssm_parameter_arn}${prefix}/releases/*",
    ]
  ])

  blue_green = length(var.listener_arns) > 0
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
  max_session_duration = 3600
}

data "aws_iam_policy_document" "deploy" {
  # These ECS calls take no resource ARN (AWS's service authorization reference).
  statement {
    sid = "TaskDefinitions"
    actions = [
      "ecs:DescribeTaskDefinition",
      "ecs:ListTaskDefinitions",
      "ecs:RegisterTaskDefinition",
      "ecs:DeregisterTaskDefinition",
    ]
    resources = ["*"]
  }

  # Tags written with a new revision (RegisterTaskDefinition with tags), on this app's families.
  statement {
    sid       = "TagNewTaskDefinitions"
    actions   = ["ecs:TagResource"]
    resources = local.family_arns

    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RegisterTaskDefinition"]
    }
  }

  statement {
    sid       = "Services"
    actions   = ["ecs:DescribeServices", "ecs:UpdateService"]
    resources = local.service_arns
  }

  statement {
    sid       = "Cluster"
    actions   = ["ecs:DescribeClusters"]
    resources = ["${local.arn_prefix}:ecs:${var.region}:${local.account_id}:cluster/${var.cluster_name}"]
  }

  # The task definitions name these roles; registering one passes them to ECS tasks.
  statement {
    sid       = "PassTheTaskRoles"
    actions   = ["iam:PassRole"]
    resources = var.pass_role_arns

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "RegistryLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  # Push (the images stage), promote (BatchGetImage + PutImage, no pull) and look up images.
  statement {
    sid = "Images"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = var.ecr_repository_arns
  }

  # The release ledger and the deploy lock of this environment.
  statement {
    sid = "ReleaseLedgerAndLock"
    actions = [
      "ssm:DeleteParameter",
      "ssm:GetParameter",
      "ssm:GetParametersByPath",
      "ssm:PutParameter",
    ]
    resources = local.ledger_arns
  }

  # Other environments' ledgers, read only (production checks that staging verified a release).
  dynamic "statement" {
    for_each = length(local.read_ledger_arns) > 0 ? [local.read_ledger_arns] : []

    content {
      sid       = "ReadOtherLedgers"
      actions   = ["ssm:GetParameter", "ssm:GetParametersByPath"]
      resources = statement.value
    }
  }

  # The metric watch during a blue/green bake. GetMetricData takes no resource ARN.
  statement {
    sid       = "Metrics"
    actions   = ["cloudwatch:GetMetricData"]
    resources = ["*"]
  }

  # Blue/green: find the live colour and the target groups (Describe calls take no resource ARN)...
  dynamic "statement" {
    for_each = local.blue_green ? ["describe"] : []

    content {
      sid = "ReadTheLoadBalancer"
      actions = [
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeRules",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
      ]
      resources = ["*"]
    }
  }

  # ...and shift traffic: only on this load balancer's deploy listeners and their rules.
  dynamic "statement" {
    for_each = local.blue_green ? ["shift"] : []

    content {
      sid       = "ShiftTraffic"
      actions   = ["elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule"]
      resources = concat(var.listener_arns, var.listener_rule_arns)
    }
  }
}

resource "aws_iam_role_policy" "deploy" {
  name   = "deploy"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.deploy.json
}
