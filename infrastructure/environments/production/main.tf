# EventFlow production: blue/green. Each app runs as two ECS services, <app>-blue and
# <app>-green, each behind its own target group. The production listener (443) forwards by
# weight, blue 100 / green 0 at creation; the test listener (8443) forwards to the idle colour.
# The deploy engine deploys to the idle colour, smoke-tests it through the test listener, then
# shifts the weights; Terraform ignores the weights, the services' task definitions and their
# task counts after creation.
#
# The names below are the ones `deploy.json` (beside this file) gives the deploy engine; the
# outputs repeat them, and the infrastructure checks compare the two.

locals {
  environment   = "production"
  name          = "eventflow-${local.environment}"
  ledger_prefix = "/eventflow/${local.environment}"
  colours       = ["blue", "green"]

  apps = {
    backend = {
      task_family    = "eventflow-backend"
      container      = "backend"
      ecr_repository = "eventflow-backend"
      desired_count  = var.backend_desired_count
    }
    frontend = {
      task_family    = "eventflow-frontend"
      container      = "frontend"
      ecr_repository = "eventflow-frontend"
      desired_count  = var.frontend_desired_count
    }
  }
}

# Account-wide, from infrastructure/global.
data "aws_iam_openid_connect_provider" "github" {
  url = "https://token.actions.githubusercontent.com"
}

data "aws_ecr_repository" "app" {
  for_each = local.apps

  name = each.value.ecr_repository
}

module "kms" {
  source = "../../modules/kms"

  name = local.name
}

# The deploy lease and the release ledger (xtask/deploy).
module "deploy_state" {
  source = "../../modules/deploy-state"

  ledger_prefix = local.ledger_prefix
}

module "vpc" {
  source = "../../modules/vpc"

  name               = local.name
  cidr_block         = var.vpc_cidr
  availability_zones = var.availability_zones
  single_nat_gateway = false
  kms_key_arn        = module.kms.key_arn
  log_retention_days = var.log_retention_days
}

module "secrets" {
  source = "../../modules/secrets"

  name_prefix             = "eventflow/${local.environment}"
  kms_key_arn             = module.kms.key_arn
  recovery_window_in_days = 30
}

module "alb" {
  source = "../../modules/alb"

  name                = local.name
  target_group_prefix = "eventflow-prod"
  blue_green          = true
  vpc_id              = module.vpc.vpc_id
  vpc_cidr            = module.vpc.cidr_block
  public_subnet_ids   = module.vpc.public_subnet_ids
  certificate_arn     = var.certificate_arn
  test_listener_port  = 8443
  test_listener_cidrs = var.test_listener_cidrs
  deletion_protection = true
  kms_key_arn         = module.kms.key_arn
  log_retention_days  = var.log_retention_days
}

module "ecs" {
  source = "../../modules/ecs"

  cluster_name                    = local.name
  region                          = var.region
  database_shell_enabled          = var.database_shell_enabled
  vpc_id                          = module.vpc.vpc_id
  vpc_cidr                        = module.vpc.cidr_block
  subnet_ids                      = module.vpc.private_subnet_ids
  load_balancer_security_group_id = module.alb.security_group_id
  kms_key_arn                     = module.kms.key_arn
  log_retention_days              = var.log_retention_days

  apps = {
    backend = {
      family                   = local.apps.backend.task_family
      container                = local.apps.backend.container
      image                    = "${data.aws_ecr_repository.app["backend"].repository_url}:${var.initial_image_tag}"
      port                     = 8080
      cpu                      = 512
      memory                   = 1024
      health_path              = "/health"
      liveness_path            = "/health/live"
      database_client          = true
      readonly_root_filesystem = true
      environment = {
        RUST_LOG = "info"
      }
      secrets = {
        DATABASE_URL    = module.secrets.arns["database_url"]
        JWT_SECRET      = module.secrets.arns["jwt_secret"]
        API_KEYS_SECRET = module.secrets.arns["api_keys_secret"]
      }
    }
    frontend = {
      family          = local.apps.frontend.task_family
      container       = local.apps.frontend.container
      image           = "${data.aws_ecr_repository.app["frontend"].repository_url}:${var.initial_image_tag}"
      port            = 8080
      cpu             = 256
      memory          = 512
      health_path     = "/healthz"
      liveness_path   = "/healthz"
      database_client = false
      # nginx writes its temporary files and the run-time config.js into the image's file system.
      readonly_root_filesystem = false
      environment              = {}
      secrets                  = {}
    }
  }

  # Blue starts live with the full count, green idle with none; deploys take it from there.
  services = merge([
    for app, cfg in local.apps : {
      for colour in local.colours : "${app}-${colour}" => {
        app              = app
        target_group_arn = module.alb.target_group_arns["${app}-${colour}"]
        desired_count    = colour == "blue" ? cfg.desired_count : 0
      }
    }
  ]...)
}

module "rds" {
  source = "../../modules/rds"

  name                      = local.name
  vpc_id                    = module.vpc.vpc_id
  subnet_ids                = module.vpc.private_subnet_ids
  client_security_group_ids = { backend = module.ecs.security_group_ids["backend"] }
  instance_class            = var.db_instance_class
  allocated_storage         = var.db_allocated_storage
  max_allocated_storage     = var.db_max_allocated_storage
  multi_az                  = var.db_multi_az
  deletion_protection       = var.db_deletion_protection
  backup_retention_days     = var.db_backup_retention_days
  kms_key_arn               = module.kms.key_arn
  log_retention_days        = var.log_retention_days
}

module "monitoring" {
  source = "../../modules/monitoring"

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
  source = "../../modules/github-oidc"

  role_name            = "${local.name}-github-deploy"
  oidc_provider_arn    = data.aws_iam_openid_connect_provider.github.arn
  github_repository    = var.github_repository
  github_environments  = [local.environment, "${local.environment}-rollback"]
  region               = var.region
  cluster_name         = module.ecs.cluster_name
  service_names        = values(module.ecs.service_names)
  task_families        = values(module.ecs.task_families)
  pass_role_names      = module.ecs.pass_role_names
  ecr_repository_names = [for app in local.apps : app.ecr_repository]
  ledger_prefix        = local.ledger_prefix
  # A release is promoted only once staging's ledger shows it verified.
  read_only_ledger_prefixes = ["/eventflow/staging"]
  load_balancer_name        = module.alb.name
}

# The on-call engineer's role: rollback, diagnosis and the database shell, with MFA
# (docs/runbook.md#roll-back-now-from-a-laptop-or-from-github).
module "break_glass" {
  source = "../../modules/break-glass"

  role_name              = "${local.name}-break-glass"
  trusted_principal_arns = var.break_glass_principal_arns
  cluster_name           = module.ecs.cluster_name
  deploy_policy_json     = module.github_deploy_role.deploy_policy_json
  kms_key_arn            = module.kms.key_arn
  database_shell         = module.ecs.database_shell
}
