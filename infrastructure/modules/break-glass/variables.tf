variable "role_name" {
  description = "The role's name, e.g. eventflow-production-break-glass."
  type        = string
}

variable "trusted_principal_arns" {
  description = "Who may assume the role (with MFA): the on-call engineers' IAM users or roles, or the account root to leave it to IAM policies."
  type        = list(string)

  validation {
    condition     = length(var.trusted_principal_arns) > 0 && !contains(var.trusted_principal_arns, "*")
    error_message = "trusted_principal_arns names the on-call engineers (or the account root), never \"*\"."
  }
}

variable "cluster_name" {
  description = "The environment's ECS cluster: its tasks, logs and database are what the role may reach."
  type        = string
}

variable "deploy_policy_json" {
  description = "The environment's deploy policy (modules/github-oidc), so that rollback runs with the same permissions as in CI."
  type        = string
}

variable "kms_key_arn" {
  description = "The environment's key: the logs and the exec sessions are encrypted with it."
  type        = string
}

variable "database_shell" {
  description = "The database shell task (modules/ecs output database_shell), or null when it is off."
  type = object({
    task_family    = string
    security_group = string
    pass_roles     = list(string)
  })
  default = null
}

variable "permissions_boundary_arn" {
  description = "The environment's permissions boundary (modules/terraform-role): the on-call role can do no more than the environment's other roles."
  type        = string
}
