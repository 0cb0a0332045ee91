# The deploy configuration's keys (deploy.json beside this file), from modules/stack: the
# infrastructure checks compare them; `terraform output -json` shows them after an apply.

output "environment" {
  description = "deploy.json `environment`."
  value       = module.stack.environment
}

output "region" {
  description = "deploy.json `region`."
  value       = module.stack.region
}

output "cluster" {
  description = "deploy.json `cluster`."
  value       = module.stack.cluster
}

output "strategy" {
  description = "deploy.json `strategy`."
  value       = module.stack.strategy
}

output "base_url" {
  description = "deploy.json `base_url`."
  value       = module.stack.base_url
}

output "test_url" {
  description = "deploy.json `test_url`."
  value       = module.stack.test_url
}

output "ledger_prefix" {
  description = "deploy.json `ledger_prefix`."
  value       = module.stack.ledger_prefix
}

output "load_balancer" {
  description = "deploy.json `load_balancer`."
  value       = module.stack.load_balancer
}

output "listeners" {
  description = "deploy.json `listeners`."
  value       = module.stack.listeners
}

output "apps" {
  description = "deploy.json `apps`."
  value       = module.stack.apps
}

# Beyond deploy.json.

output "load_balancer_dns_name" {
  description = "Point domain_name's DNS record (CNAME or alias) here."
  value       = module.stack.load_balancer_dns_name
}

output "deploy_role_arn" {
  description = "The GitHub environment's AWS_ROLE_ARN for deploys."
  value       = module.stack.deploy_role_arn
}

output "alarm_topic_arn" {
  description = "SNS topic of the environment's alarms."
  value       = module.stack.alarm_topic_arn
}

output "database_address" {
  description = "Host of the database, for DATABASE_URL (see README: secrets)."
  value       = module.stack.database_address
}

output "database_url_format" {
  description = "DATABASE_URL to fill in USER and PASSWORD (see README: secrets)."
  value       = module.stack.database_url_format
}

output "break_glass_role_arn" {
  description = "The on-call engineer's role (MFA): rollback, diagnosis, the database shell."
  value       = module.stack.break_glass_role_arn
}
