variable "role_name" {
  description = "Name of the deploy role, e.g. eventflow-staging-github-deploy."
  type        = string
}

variable "oidc_provider_arn" {
  description = "ARN of the account's IAM OIDC provider for token.actions.githubusercontent.com (created once, in infrastructure/global)."
  type        = string
}

variable "github_repository" {
  description = "The repository allowed to assume the role, as owner/name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository is owner/name, without wildcards."
  }
}

variable "github_environments" {
  description = "GitHub environments whose jobs may assume the role."
  type        = list(string)

  validation {
    condition     = length(var.github_environments) > 0 && alltrue([for e in var.github_environments : can(regex("^[A-Za-z0-9_.-]+$", e))])
    error_message = "Name at least one GitHub environment, without wildcards."
  }
}

variable "region" {
  description = "Region of the cluster and of the ledger."
  type        = string
}

variable "cluster_name" {
  description = "The ECS cluster deployed to."
  type        = string
}

variable "service_names" {
  description = "The ECS services the deploy updates."
  type        = list(string)
}

variable "task_families" {
  description = "Task-definition families the deploy registers revisions of."
  type        = list(string)
}

variable "pass_role_names" {
  description = "Task and execution roles the task definitions name (role names, in this account)."
  type        = list(string)
}

variable "ecr_repository_names" {
  description = "Repositories the deploy pushes to, promotes in and reads from (in this account and region)."
  type        = list(string)
}

variable "ledger_prefix" {
  description = "SSM path of the environment's release ledger (<prefix>/releases/*) and deploy lock (<prefix>/deploy-lock)."
  type        = string

  validation {
    condition     = startswith(var.ledger_prefix, "/") && !endswith(var.ledger_prefix, "/")
    error_message = "ledger_prefix is an SSM path like /eventflow/staging."
  }
}

variable "read_only_ledger_prefixes" {
  description = "Ledgers of other environments this one reads (production reads staging's)."
  type        = list(string)
  default     = []
}

variable "load_balancer_name" {
  description = "Blue/green: the load balancer whose listeners and rules the deploy shifts traffic on. Empty for rolling deploys."
  type        = string
  default     = ""
}

variable "permissions_boundary_arn" {
  description = "The environment's permissions boundary (modules/terraform-role): every role created here carries it, and the Terraform role may create roles only with it."
  type        = string
}

variable "other_environments" {
  description = "The environments the deploy role must never touch (explicit Deny): name, target-group name prefix, and whether their release ledger may be read."
  type = list(object({
    name                = string
    target_group_prefix = string
    ledger_readable     = bool
  }))
}
