variable "region" {
  description = "Region of the state bucket and the image repositories."
  type        = string
}

variable "aws_account_id" {
  description = "The AWS account EventFlow runs in; Terraform refuses to touch any other."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.aws_account_id))
    error_message = "aws_account_id is the 12-digit account number."
  }
}

variable "state_bucket_name" {
  description = "Bucket of every EventFlow Terraform state (globally unique; must match the `bucket` of each backend.tf)."
  type        = string
}

variable "ecr_repositories" {
  description = "The image repositories, shared by every environment."
  type        = list(string)
}

variable "environments" {
  description = "The environments, each with its own state, Terraform role and permissions boundary: its AWS account (the same as aws_account_id, or its own), its target groups' name prefix, and the environments whose release ledger its roles may read."
  type = map(object({
    account_id          = string
    target_group_prefix = string
    reads_ledgers_of    = list(string)
  }))
}

variable "github_repository" {
  description = "The GitHub repository (owner/name) whose environment jobs may run Terraform."
  type        = string
}
