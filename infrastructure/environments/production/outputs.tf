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
  description = "deploy.json `strategy`: two services per app behind weighted forwards."
  value       = "blue_green"
}

output "base_url" {
  description = "deploy.json `base_url`: the production listener."
  value       = "https://${var.domain_name}"
}

output "test_url" {
  description = "deploy.json `test_url`: the test listener, which serves the idle colour."
  value       = "https://${var.domain_name}:${module.alb.listener_ports["test"]}"
}

output "ledger_prefix" {
  description = "deploy.json `ledger_prefix`: the release ledger (<prefix>/releases/*) and the deploy lock (<prefix>/deploy-lock) in SSM."
  value       = local.ledger_prefix
}

output "load_balancer" {
  description = "deploy.json `load_balancer`: the load balancer whose listeners the deploy shifts."
  value       = module.alb.name
}

output "listeners" {
  description = "deploy.json `listeners`: ports of the production and test listeners."
  value       = module.alb.listener_ports
}

output "apps" {
  description = "deploy.json `apps`: the blue and green service and target group of each app."
  value = {
    for app, cfg in local.apps : app => {
      services       = [for colour in local.colours : module.ecs.service_names["${app}-${colour}"]]
      task_family    = module.ecs.task_families[app]
      container      = module.ecs.containers[app]
      ecr_repository = data.aws_ecr_repository.app[app].name
      target_groups  = { for colour in local.colours : colour => module.alb.target_group_names["${app}-${colour}"] }
    }
  }
}

# Beyond deploy.json.

output "load_balancer_dns_name" {
  description = "Point domain_name's DNS record (CNAME or alias) here."
  value       = module.alb.dns_name
}

output "deploy_role_arn" {
  description = "The GitHub `production` environment's AWS_ROLE_ARN."
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
