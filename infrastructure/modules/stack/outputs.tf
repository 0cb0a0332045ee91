# The deploy configuration's keys (deploy.json beside each root), with the same values: the
# infrastructure checks compare them, and `terraform output -json` can be compared after an apply.
# The keys a rolling environment doesn't have are null, and the roots leave them out.

output "environment" {
  description = "deploy.json `environment`."
  value       = var.environment
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
  description = "deploy.json `strategy`."
  value       = var.strategy
}

output "base_url" {
  description = "deploy.json `base_url`: the production listener."
  value       = "https://${var.domain_name}"
}

output "test_url" {
  description = "deploy.json `test_url` (blue/green): the test listener, which serves the idle colour to requests with the test key."
  value       = local.blue_green ? "https://${var.domain_name}:${module.alb.listener_ports["test"]}" : null
}

output "ledger_prefix" {
  description = "deploy.json `ledger_prefix`: the release ledger (<prefix>/releases/*) and the deploy lock (<prefix>/deploy-lock) in SSM."
  value       = local.ledger_prefix
}

output "load_balancer" {
  description = "deploy.json `load_balancer` (blue/green): the load balancer whose listeners the deploy shifts."
  value       = local.blue_green ? module.alb.name : null
}

output "listeners" {
  description = "deploy.json `listeners` (blue/green): ports of the production and test listeners."
  value       = local.blue_green ? module.alb.listener_ports : null
}

output "apps" {
  description = "deploy.json `apps`: the services of each app, and for blue/green its blue and green target groups."
  value = {
    for app, cfg in local.apps : app => merge(
      {
        services        = local.blue_green ? [for colour in local.colours : module.ecs.service_names["${app}-${colour}"]] : [module.ecs.service_names[app]]
        task_family     = module.ecs.task_families[app]
        template_family = module.ecs.template_families[app]
        container       = module.ecs.containers[app]
        ecr_repository  = data.aws_ecr_repository.app[app].name
      },
      local.blue_green ? { target_groups = { for colour in local.colours : colour => module.alb.target_group_names["${app}-${colour}"] } } : {},
    )
  }
}

# Beyond deploy.json.

output "load_balancer_dns_name" {
  description = "Point domain_name's DNS record (CNAME or alias) here."
  value       = module.alb.dns_name
}

output "deploy_role_arn" {
  description = "The GitHub environment's AWS_ROLE_ARN for deploys."
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
