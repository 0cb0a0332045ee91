# One EventFlow environment: network, key, secrets, database, load balancer, ECS services,
# alarms and the deploy role. Each environment root (environments/<env>) is its backend, its
# provider and one call of this module with its strategy, sizes and settings.
#
# Strategies:
# - rolling: one ECS service per app (`backend`, `frontend`) behind one target group each; ECS's
#   deployment circuit breaker rolls a failing deploy back.
# - blue_green: two services per app, <app>-blue and <app>-green, each behind its own target
#   group. The production listener (443) forwards by weight, blue 100 / green 0 at creation; the
#   test listener answers 403 but forwards requests with the test key header to the idle colour.
#   The deploy engine deploys to the idle colour, smoke-tests it through the test listener, then
#   shifts the weights; Terraform ignores the weights, the services' task definitions and their
#   task counts after creation.
#
# The names below are the ones `deploy.json` (beside each root) gives the deploy engine; the
# outputs repeat them, and the infrastructure checks compare the two.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  name          = "eventflow-${var.environment}"
  ledger_prefix = "/eventflow/${var.environment}"
  blue_green    = var.strategy == "blue_green"
  colours       = local.blue_green ? ["blue", "green"] : []

  # Task families per environment: a deploy role may register and retire only its own.
  apps = {
    backend = {
      task_family     = "${local.name}-backend"
      template_family = "${local.name}-backend-template"
      container       = "backend"
      ecr_repository  = "eventflow-backend"
      desired_count   = var.backend.desired_count
    }
    frontend = {
      task_family     = "${local.name}-frontend"
      template_family = "${local.name}-frontend-template"
      container       = "frontend"
      ecr_repository  = "eventflow-frontend"
      desired_count   = var.frontend.desired_count
    }
  }

  # Built from the name (modules/terraform-role creates it), so policies render without AWS.
  permissions_boundary_arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:policy/${local.name}-boundary"
}

# Shared with the other environments, from infrastructure/global.
data "aws_iam_openid_connect_provider" "github" {
  url = "https://token.actions.githubusercontent.com"
}

data "aws_ecr_repository" "app" {
  for_each = local.apps

  name        = each.value.ecr_repository
  registry_id = var.registry_account_id
}

module "kms" {
  source = "../kms"

  name = local.name
}

# The deploy lease and the release ledger (xtask/deploy).
module "deploy_state" {
  source = "../deploy-state"

  ledger_prefix = local.ledger_prefix
}

module "vpc" {
  source = "../vpc"

  name                     = local.name
  cidr_block               = var.vpc_cidr
  availability_zones       = var.availability_zones
  single_nat_gateway       = var.single_nat_gateway
  kms_key_arn              = module.kms.key_arn
  log_retention_days       = var.log_retention_days
  permissions_boundary_arn = local.permissions_boundary_arn
}

module "secrets" {
  source = "../secrets"

  name_prefix             = "eventflow/${var.environment}"
  kms_key_arn             = module.kms.key_arn
  recovery_window_in_days = var.secrets_recovery_window_days
}

module "alb" {
  source = "../alb"

  name                         = local.name
  target_group_prefix          = var.target_group_prefix
  blue_green                   = local.blue_green
  vpc_id                       = module.vpc.vpc_id
  vpc_cidr                     = module.vpc.cidr_block
  public_subnet_ids            = module.vpc.public_subnet_ids
  certificate_arn              = var.certificate_arn
  test_listener_port           = 8443
  test_listener_key_secret_arn = local.blue_green ? module.secrets.arns["test_listener_key"] : ""
  deletion_protection          = true
  kms_key_arn                  = module.kms.key_arn
  log_retention_days           = var.log_retention_days
}

module "ecs" {
  source = "../ecs"

  cluster_name                    = local.name
  region                          = var.region
  database_shell_enabled          = var.database_shell_enabled
  vpc_id                          = module.vpc.vpc_id
  vpc_cidr                        = module.vpc.cidr_block
  subnet_ids                      = module.vpc.private_subnet_ids
  load_balancer_security_group_id = module.alb.security_group_id
  kms_key_arn                     = module.kms.key_arn
  log_retention_days              = var.log_retention_days
  permissions_boundary_arn        = local.permissions_boundary_arn

  apps = {
    backend = {
      family                   = local.apps.backend.task_family
      template_family          = local.apps.backend.template_family
      container                = local.apps.backend.container
      image                    = "${data.aws_ecr_repository.app["backend"].repository_url}:${var.initial_image_tag}"
      port                     = 8080
      cpu                      = var.backend.cpu
      memory                   = var.backend.memory
      health_path              = "/health"
      liveness_path            = "/health/live"
      database_client          = true
      readonly_root_filesystem = true
      environment = {
        RUST_LOG = "info"
      }
      # The admin API is on only where the deploy's end-to-end suite creates and deletes its
      # own API key through it (staging); elsewhere its token is never injected.
      secrets = merge(
        {
          DATABASE_URL    = module.secrets.arns["database_url"]
          JWT_SECRET      = module.secrets.arns["jwt_secret"]
          API_KEYS_SECRET = module.secrets.arns["api_keys_secret"]
        },
        var.admin_api ? { ADMIN_API_TOKEN = module.secrets.arns["admin_api_token"] } : {},
      )
    }
    frontend = {
      family          = local.apps.frontend.task_family
      template_family = local.apps.frontend.template_family
      container       = local.apps.frontend.container
      image           = "${data.aws_ecr_repository.app["frontend"].repository_url}:${var.initial_image_tag}"
      port            = 8080
      cpu             = var.frontend.cpu
      memory          = var.frontend.memory
      health_path     = "/healthz"
      liveness_path   = "/healthz"
      database_client = false
      # nginx writes its temporary files and the run-time config.js into the image's file system.
      readonly_root_filesystem = false
      environment              = {}
      secrets                  = {}
    }
  }

  # Rolling: one service per app. Blue/green: blue starts live with the full count, green idle
  # with none; deploys take it from there.
  services = local.blue_green ? merge([
    for app, cfg in local.apps : {
      for colour in local.colours : "${app}-${colour}" => {
        app              = app
        target_group_arn = module.alb.target_group_arns["${app}-${colour}"]
        desired_count    = colour == "blue" ? cfg.desired_count : 0
      }
    }
    ]...) : {
    for app, cfg in local.apps : app => {
      app              = app
      target_group_arn = module.alb.target_group_arns[app]
      desired_count    = cfg.desired_count
    }
  }
}

module "rds" {
  source = "../rds"

  name                      = local.name
  vpc_id                    = module.vpc.vpc_id
  subnet_ids                = module.vpc.private_subnet_ids
  client_security_group_ids = { backend = module.ecs.security_group_ids["backend"] }
  instance_class            = var.database.instance_class
  allocated_storage         = var.database.allocated_storage
  max_allocated_storage     = var.database.max_allocated_storage
  multi_az                  = var.database.multi_az
  deletion_protection       = var.database.deletion_protection
  backup_retention_days     = var.database.backup_retention_days
  kms_key_arn               = module.kms.key_arn
  log_retention_days        = var.log_retention_days
  permissions_boundary_arn  = local.permissions_boundary_arn
}

module "monitoring" {
  source = "../monitoring"

  name                      = local.name
  load_balancer_arn_suffix  = module.alb.arn_suffix
  target_group_arn_suffixes = module.alb.target_group_arn_suffixes
  database_identifier       = module.rds.identifier
  alarm_emails              = var.alarm_emails
  slack_team_id             = var.alarm_slack_team_id
  slack_channel_id          = var.alarm_slack_channel_id
  kms_key_arn               = module.kms.key_arn
}

module "github_deploy_role" {
  source = "../github-oidc"

  role_name         = "${local.name}-github-deploy"
  oidc_provider_arn = data.aws_iam_openid_connect_provider.github.arn
  github_repository = var.github_repository
  # Production's rollback runs in its own GitHub environment, with its own reviewers.
  github_environments      = local.blue_green ? [var.environment, "${var.environment}-rollback"] : [var.environment]
  region                   = var.region
  cluster_name             = module.ecs.cluster_name
  service_names            = values(module.ecs.service_names)
  task_families            = values(module.ecs.task_families)
  pass_role_names          = module.ecs.pass_role_names
  ecr_repository_names     = [for app in local.apps : app.ecr_repository]
  ledger_prefix            = local.ledger_prefix
  permissions_boundary_arn = local.permissions_boundary_arn
  # A release is promoted only once the ledgers read here show it verified.
  read_only_ledger_prefixes = [for other in var.other_environments : "/eventflow/${other.name}" if other.ledger_readable]
  load_balancer_name        = local.blue_green ? module.alb.name : ""
  other_environments        = var.other_environments
}

# The on-call engineer's role: rollback, diagnosis and the database shell, with MFA
# (docs/runbook.md#roll-back-now-from-a-laptop-or-from-github).
module "break_glass" {
  source = "../break-glass"

  role_name                = "${local.name}-break-glass"
  trusted_principal_arns   = var.break_glass_principal_arns
  cluster_name             = module.ecs.cluster_name
  deploy_policy_json       = module.github_deploy_role.deploy_policy_json
  kms_key_arn              = module.kms.key_arn
  database_shell           = module.ecs.database_shell
  permissions_boundary_arn = local.permissions_boundary_arn
}
