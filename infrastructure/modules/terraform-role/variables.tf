variable "role_name" {
  description = "Name of the role, e.g. eventflow-staging-github-terraform."
  type        = string
}

variable "environment" {
  description = "The environment whose Terraform the role runs: its state key prefix and its role names (eventflow-<environment>-*)."
  type        = string
}

variable "oidc_provider_arn" {
  description = "ARN of the account's IAM OIDC provider for token.actions.githubusercontent.com."
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

variable "github_environment" {
  description = "The GitHub environment whose jobs may assume the role."
  type        = string
}

variable "state_bucket_name" {
  description = "Name of the Terraform state bucket."
  type        = string
}

variable "state_key_arn" {
  description = "ARN of the key that encrypts the states."
  type        = string
}

variable "other_environments" {
  description = "The environments this one must never touch: name, target-group name prefix, and whether this environment's roles may read their release ledger."
  type = list(object({
    name                = string
    target_group_prefix = string
    ledger_readable     = bool
  }))
}
