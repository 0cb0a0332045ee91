# EventFlow production: blue/green, Multi-AZ, a year of logs (modules/stack has everything else).

module "stack" {
  source = "../../modules/stack"

  environment         = "production"
  strategy            = "blue_green"
  region              = var.region
  registry_account_id = var.registry_account_id
  domain_name         = var.domain_name
  certificate_arn     = var.certificate_arn
  github_repository   = var.github_repository
  alarm_emails        = var.alarm_emails

  alarm_slack_team_id        = var.alarm_slack_team_id
  alarm_slack_channel_id     = var.alarm_slack_channel_id
  database_shell_enabled     = var.database_shell_enabled
  break_glass_principal_arns = var.break_glass_principal_arns

  availability_zones  = ["eu-central-1a", "eu-central-1b"]
  vpc_cidr            = "10.30.0.0/16"
  single_nat_gateway  = false
  target_group_prefix = "eventflow-prod"
  initial_image_tag   = "bootstrap" # an image pushed to both repositories before the first apply

  backend  = { desired_count = 2, cpu = 512, memory = 1024 }
  frontend = { desired_count = 2, cpu = 256, memory = 512 }
  # The admin API stays off.
  admin_api = false

  database = {
    instance_class        = "db.t4g.medium"
    allocated_storage     = 50
    max_allocated_storage = 500
    multi_az              = true
    deletion_protection   = true
    backup_retention_days = 14
  }
  secrets_recovery_window_days = 30
  log_retention_days           = 365

  # Production reads staging's ledger (it promotes only what staging verified) and nothing else
  # of staging's.
  other_environments = [
    { name = "staging", target_group_prefix = "eventflow-stg", ledger_readable = true },
  ]
}
