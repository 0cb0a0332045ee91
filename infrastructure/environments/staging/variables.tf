# What differs between accounts; everything else is in main.tf's module call.

variable "region" {
  description = "AWS region of the environment."
  type        = string
}

variable "aws_account_id" {
  description = "The AWS account the environment runs in; Terraform refuses to touch any other."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.aws_account_id))
    error_message = "aws_account_id is the 12-digit account number."
  }
}

variable "assume_role_name" {
  description = "The role Terraform assumes in aws_account_id when the environment has an account of its own; null when it runs in the account of the caller's credentials."
  type        = string
  default     = null
}

variable "registry_account_id" {
  description = "The account of the image repositories (infrastructure/global); null when it is aws_account_id."
  type        = string
  default     = null
}

variable "domain_name" {
  description = "Public host name of the environment (a DNS record pointing at the load balancer)."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate for domain_name, in the environment's region."
  type        = string
}

variable "github_repository" {
  description = "The GitHub repository (owner/name) whose workflows may deploy, from the GitHub environment of this one's name."
  type        = string
}

variable "alarm_emails" {
  description = "Addresses that receive the alarms."
  type        = list(string)
  default     = []
}

variable "alarm_slack_team_id" {
  description = "Slack workspace id (T…) authorised in the AWS Chatbot console; null for email only."
  type        = string
  default     = null
}

variable "alarm_slack_channel_id" {
  description = "Slack channel id (C…) the alarms are posted to; null for email only."
  type        = string
  default     = null
}

variable "database_shell_enabled" {
  description = "Whether the database shell task (psql over ECS Exec) exists: docs/runbook.md#a-way-into-the-database."
  type        = bool
  default     = false
}

variable "break_glass_principal_arns" {
  description = "Who may assume the break-glass role, with MFA: the on-call engineers' IAM users or roles (or the account root, leaving it to IAM policies)."
  type        = list(string)
}
