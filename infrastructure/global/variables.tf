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
  description = "The environments, each with its own state and Terraform role."
  type        = list(string)
}

variable "github_repository" {
  description = "The GitHub repository (owner/name) whose environment jobs may run Terraform."
  type        = string
}
