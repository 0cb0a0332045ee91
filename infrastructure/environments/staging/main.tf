# EventFlow staging: rolling deploys, small sizes (modules/stack has everything else).

module "stack" {
  source = "../../modules/stack"

  environment         = "staging"
  strategy            = "rolling"
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
  vpc_cidr            = "10.20.0.0/16"
  single_nat_gateway  = true
  target_group_prefix = "eventflow-stg"
  initial_image_tag   = "bootstrap" # an image pushed to both repositories before the first apply

  backend  = { desired_count = 1, cpu = 256, memory = 512 }
  frontend = { desired_count = 1, cpu = 256, memory = 512 }
  # The deploy's end-to-end suite creates and deletes its own API key through the admin API.
  admin_api = true

  database = {
    instance_class        = "db.t4g.micro"
    allocated_storage     = 20
    max_allocated_storage = 100
    multi_az              = false
    deletion_protection   = true
    backup_retention_days = 7
  }
  secrets_recovery_window_days = 7
  log_retention_days           = 30

  # Staging never touches production, its ledger included.
  other_environments = [
    { name = "production", target_group_prefix = "eventflow-prod", ledger_readable = false },
  ]
}
