variable "environment" {
  description = "The environment's name: its resources are eventflow-<environment>-*, its GitHub environment has the same name."
  type        = string
}

variable "strategy" {
  description = "How the environment deploys: rolling (one service per app) or blue_green (two per app, a test listener)."
  type        = string

  validation {
    condition     = contains(["rolling", "blue_green"], var.strategy)
    error_message = "strategy is rolling or blue_green."
  }
}

variable "region" {
  description = "AWS region of the environment."
  type        = string
}

variable "registry_account_id" {
  description = "The account holding the image repositories (infrastructure/global); null when it is the environment's own."
  type        = string
  default     = null
}

variable "availability_zones" {
  description = "The two zones of the subnets."
  type        = list(string)
}

variable "vpc_cidr" {
  description = "Address range of the environment's VPC."
  type        = string
}

variable "single_nat_gateway" {
  description = "One NAT gateway for both zones (cheaper, one zone's outage cuts egress) rather than one per zone."
  type        = bool
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

variable "target_group_prefix" {
  description = "Prefix of the target groups' names (32 characters at most in all): eventflow-stg, eventflow-prod."
  type        = string
}

variable "github_repository" {
  description = "The GitHub repository (owner/name) whose workflows may deploy, from the GitHub environment of the same name as this one."
  type        = string
}

variable "initial_image_tag" {
  description = "Image tag of the seed task definitions (an image already pushed to both repositories). Only used when a task definition is first created: deploys change the image afterwards."
  type        = string
}

variable "backend" {
  description = "The backend's tasks: count when the service is created (deploys keep the running count), CPU units and MiB."
  type = object({
    desired_count = number
    cpu           = number
    memory        = number
  })
}

variable "frontend" {
  description = "The dashboard's tasks, as for the backend."
  type = object({
    desired_count = number
    cpu           = number
    memory        = number
  })
}

variable "admin_api" {
  description = "Inject ADMIN_API_TOKEN into the backend, turning its admin API on (staging, for the deploy's end-to-end suite). Never in production."
  type        = bool
}

variable "database" {
  description = "RDS: instance class, storage (GiB, initial and autoscaling limit), Multi-AZ, deletion protection, days of backups."
  type = object({
    instance_class        = string
    allocated_storage     = number
    max_allocated_storage = number
    multi_az              = bool
    deletion_protection   = bool
    backup_retention_days = number
  })
}

variable "secrets_recovery_window_days" {
  description = "Days a deleted secret can still be restored."
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

variable "other_environments" {
  description = "The environments this one's roles must never touch (explicit Deny): name, target-group name prefix, and whether their release ledger may be read (production promotes what staging's ledger shows verified)."
  type = list(object({
    name                = string
    target_group_prefix = string
    ledger_readable     = bool
  }))
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
