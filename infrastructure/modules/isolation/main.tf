# What an environment's roles may never touch: the other environments' resources. One list of
# IAM Deny statements, added to the deploy role's policy (modules/github-oidc), the Terraform
# role's (modules/terraform-role) and the permissions boundary of every role an environment
# creates, so all three say the same. A Deny wins over any Allow, in one account as across
# accounts (the ARNs leave the account as `*`).
#
# Resources with a name are denied by ARN; KMS keys (whose ARNs carry no name) by alias; and
# resources that have neither (VPCs, subnets, security groups, NAT gateways) by the
# `Environment` tag every resource gets from its provider's default_tags.

locals {
  p = var.partition

  # Everything an environment owns that has a name in its ARN, but its release ledger.
  named = { for other in var.other_environments : other.name => [
    "arn:${local.p}:s3:::*/${other.name}/*",
    "arn:${local.p}:secretsmanager:*:*:secret:eventflow/${other.name}/*",
    "arn:${local.p}:kms:*:*:alias/eventflow-${other.name}",
    "arn:${local.p}:ecs:*:*:cluster/eventflow-${other.name}",
    "arn:${local.p}:ecs:*:*:service/eventflow-${other.name}/*",
    "arn:${local.p}:ecs:*:*:task/eventflow-${other.name}/*",
    "arn:${local.p}:ecs:*:*:task-definition/eventflow-${other.name}-*",
    "arn:${local.p}:elasticloadbalancing:*:*:loadbalancer/app/eventflow-${other.name}/*",
    "arn:${local.p}:elasticloadbalancing:*:*:listener/app/eventflow-${other.name}/*",
    "arn:${local.p}:elasticloadbalancing:*:*:listener-rule/app/eventflow-${other.name}/*",
    "arn:${local.p}:elasticloadbalancing:*:*:targetgroup/${other.target_group_prefix}-*",
    "arn:${local.p}:rds:*:*:db:eventflow-${other.name}",
    # /ecs/eventflow-<env>/<app>, /vpc/eventflow-<env>/…, aws-waf-logs-eventflow-<env>, RDS's.
    "arn:${local.p}:logs:*:*:log-group:*eventflow-${other.name}/*",
    "arn:${local.p}:logs:*:*:log-group:*eventflow-${other.name}:*",
    "arn:${local.p}:iam::*:role/eventflow-${other.name}-*",
    "arn:${local.p}:iam::*:policy/eventflow-${other.name}-*",
  ] }

  # The release ledger, the deploy lock and the deploy-state table.
  ledger = { for other in var.other_environments : other.name => [
    "arn:${local.p}:ssm:*:*:parameter/eventflow/${other.name}",
    "arn:${local.p}:ssm:*:*:parameter/eventflow/${other.name}/*",
    "arn:${local.p}:dynamodb:*:*:table/eventflow-${other.name}-deploy-state",
    "arn:${local.p}:dynamodb:*:*:table/eventflow-${other.name}-deploy-state/*",
  ] }

  sealed   = [for other in var.other_environments : other.name if !other.ledger_readable]
  readable = [for other in var.other_environments : other.name if other.ledger_readable]

  # Each statement with whether it applies: IAM refuses a statement without resources.
  candidates = [
    { include = length(var.other_environments) > 0, statement = {
      Sid      = "NotTheOtherEnvironments"
      Effect   = "Deny"
      Action   = "*"
      Resource = flatten([for other in var.other_environments : local.named[other.name]])
    } },
    { include = length(local.sealed) > 0, statement = {
      Sid      = "NotTheOtherEnvironmentsLedgers"
      Effect   = "Deny"
      Action   = "*"
      Resource = flatten([for name in local.sealed : local.ledger[name]])
    } },
    # Production promotes only what staging verified: it reads staging's ledger, and that is all.
    { include = length(local.readable) > 0, statement = {
      Sid       = "OnlyReadTheOtherEnvironmentsLedgers"
      Effect    = "Deny"
      NotAction = var.ledger_read_actions
      Resource  = flatten([for name in local.readable : local.ledger[name]])
    } },
    { include = length(var.other_environments) > 0, statement = {
      Sid       = "NotTheOtherEnvironmentsKeys"
      Effect    = "Deny"
      Action    = "kms:*"
      Resource  = "*"
      Condition = { "ForAnyValue:StringLike" = { "kms:ResourceAliases" = [for other in var.other_environments : "alias/eventflow-${other.name}"] } }
    } },
    # Tagged resources of an environment whose ledger is sealed, and no resource created with
    # its tag (a staging role can't make a production resource, nor take one over).
    { include = length(local.sealed) > 0, statement = {
      Sid       = "NotTheOtherEnvironmentsTaggedResources"
      Effect    = "Deny"
      Action    = "*"
      Resource  = "*"
      Condition = { StringEquals = { "aws:ResourceTag/Environment" = local.sealed } }
    } },
    { include = length(local.sealed) > 0, statement = {
      Sid       = "NoResourcesTaggedForTheOtherEnvironments"
      Effect    = "Deny"
      Action    = "*"
      Resource  = "*"
      Condition = { StringEquals = { "aws:RequestTag/Environment" = local.sealed } }
    } },
  ]
}
