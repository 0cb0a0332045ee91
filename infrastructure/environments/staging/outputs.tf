# The deploy configuration's keys (deploy.json beside this file), with the same values: the
# infrastructure checks compare them, and `terraform output -json` can be compared after an apply.

output "environment" {
  description = "deploy.json `environment`."
  value       = local.environment
}

output "region" {
  description = "deploy.json `region`."
  value       = var.region
}

output "cluster" {
  description = "deploy.json `cluster`."
  value       = module.ecs.cluster_name
}

output "strategy" {
  description = "deploy.json `strategy`: one service per app, rolling deploys."
  value       = "rolling"
}

output "base_url" {
  description = "deploy.json `base_url`."
  value       = "https://${var.domain_name}"
}

output "ledger_prefix" {
  description = "deploy.json `ledger_prefix`: the release ledger (<prefix>/releases/*) and the deploy lock (<prefix>/deploy-lock) in SSM."
  value       = local.ledger_prefix
}

output "apps" {
  description = "deploy.json `apps`."
  value = {
    for app, cfg in local.apps : app => {
      services       = [module.ecs.service_names[app]]
      task_family    = module.ecs.task_families[app]
      container      = module.ecs.containers[app]
      ecr_repository = data.aws_ecr_repository.app[app].name
    }
  }
}

# Beyond deploy.json.

output "load_balancer_dns_name" {
  description = "Point domain_name's DNS record (CNAME or alias) here."
  value       = module.alb.dns_name
}

output "deploy_role_arn" {
  description = "The GitHub `staging` environment's AWS_ROLE_ARN."
  value       = module.github_deploy_role.role_arn
}

output "alarm_topic_arn" {
  description = "SNS topic of the environment's alarms."
  value       = module.monitoring.alarm_topic_arn
}

output "database_address" {
  description = "Host of the database, for DATABASE_URL (see README: secrets)."
  value       = module.rds.address
}

output "database_url_format" {
  description = "DATABASE_URL to fill in USER and PASSWORD: sslmode=verify-full against the RDS CA bundle in the backend image (see README: secrets)."
  value       = module.rds.database_url_format
}

output "break_glass_role_arn" {
  description = "The on-call engineer's role (MFA): rollback, diagnosis, the database shell."
  value       = module.break_glass.role_arn
}
