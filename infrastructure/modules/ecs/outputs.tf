output "cluster_name" {
  description = "Name of the cluster."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the cluster."
  value       = aws_ecs_cluster.this.arn
}

output "service_names" {
  description = "Service name by service key."
  value       = { for key, service in aws_ecs_service.this : key => service.name }
}

output "task_families" {
  description = "Task-definition family by app: where deploys register their revisions."
  value       = { for app, cfg in var.apps : app => cfg.family }
}

output "template_families" {
  description = "Terraform's template family by app: the base of every deploy's revision."
  value       = { for app, td in aws_ecs_task_definition.app : app => td.family }
}

output "security_group_ids" {
  description = "Security group of each app's tasks."
  value       = { for app, sg in aws_security_group.app : app => sg.id }
}

output "pass_role_arns" {
  description = "The task and execution roles that task definitions name, which a deployer must be allowed to pass."
  value       = concat(values(aws_iam_role.execution)[*].arn, values(aws_iam_role.task)[*].arn)
}

output "pass_role_names" {
  description = "Names of the roles in pass_role_arns, from which the deploy policy builds their ARNs."
  value       = concat(values(aws_iam_role.execution)[*].name, values(aws_iam_role.task)[*].name)
}

output "containers" {
  description = "Name of the container whose image a deploy changes, by app."
  value       = { for app, cfg in var.apps : app => cfg.container }
}

output "database_shell" {
  description = "The database shell's task family, security group and role names (null while database_shell_enabled is false)."
  value = var.database_shell_enabled ? {
    task_family    = aws_ecs_task_definition.database_shell[0].family
    security_group = aws_security_group.app[local.database_app].id
    pass_roles     = [aws_iam_role.execution[local.database_app].name, aws_iam_role.database_shell[0].name]
  } : null
}
