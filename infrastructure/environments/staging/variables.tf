variable "region" {
  description = "AWS region of the environment."
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

variable "availability_zones" {
  description = "The two zones of the subnets."
  type        = list(string)
}

variable "vpc_cidr" {
  description = "Address range of the environment's VPC."
  type        = string
}

variable "domain_name" {
  description = "Public host name of the environment (a DNS record pointing at the load balancer)."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate for domain_name, in the environment's region."
  type        = string

  validation {
    condition     = startswith(var.certificate_arn, "arn:aws:acm:")
    error_message = "certificate_arn is the ARN of an ACM certificate."
  }
}

variable "github_repository" {
  description = "The GitHub repository (owner/name) whose workflows may deploy, from its `staging` environment."
  type        = string
}

variable "initial_image_tag" {
  description = "Image tag of the seed task definitions (an image already pushed to both repositories). Only used when a task definition is first created: deploys change the image afterwards."
  type        = string
}

variable "backend_desired_count" {
  description = "Backend tasks when the service is created (deploys keep the running count)."
  type        = number
}

variable "frontend_desired_count" {
  description = "Dashboard tasks when the service is created."
  type        = number
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "db_allocated_storage" {
  description = "Initial database storage in GiB."
  type        = number
}

variable "db_max_allocated_storage" {
  description = "Database storage autoscaling limit in GiB."
  type        = number
}

variable "db_multi_az" {
  description = "A standby database in the second zone."
  type        = bool
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database."
  type        = bool
}

variable "db_backup_retention_days" {
  description = "Days of automated database backups."
  type        = number
}

variable "log_retention_days" {
  description = "Days the environment's CloudWatch logs are kept."
  type        = number
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
