variable "name" {
  description = "Identifier of the instance and prefix of its companions, e.g. eventflow-staging."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the database's security group."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets, in at least two zones."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect on 5432, by a name used in the rule's description (keys must be known at plan time)."
  type        = map(string)
}

variable "engine_version" {
  description = "PostgreSQL version: the major version only, so minor upgrades are applied by RDS."
  type        = string
  default     = "15"

  validation {
    condition     = var.engine_version == "15" || startswith(var.engine_version, "15.")
    error_message = "EventFlow runs on PostgreSQL 15."
  }
}

variable "instance_class" {
  description = "Instance class, e.g. db.t4g.micro."
  type        = string
}

variable "allocated_storage" {
  description = "Initial storage in GiB."
  type        = number
}

variable "max_allocated_storage" {
  description = "Storage autoscaling limit in GiB."
  type        = number
}

variable "database_name" {
  description = "Database created with the instance."
  type        = string
  default     = "eventflow"
}

variable "master_username" {
  description = "Master user; its password is managed by RDS in Secrets Manager."
  type        = string
  default     = "eventflow_admin"
}

variable "multi_az" {
  description = "A synchronous standby in the other zone (production: true)."
  type        = bool
}

variable "deletion_protection" {
  description = "Refuse to delete the instance (production: true)."
  type        = bool
}

variable "backup_retention_days" {
  description = "Days of automated backups and point-in-time recovery (production: at least 7)."
  type        = number

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be from 1 to 35: automated backups are never switched off."
  }
}

variable "kms_key_arn" {
  description = "Key for storage, Performance Insights, the master password and the log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Days the exported PostgreSQL logs are kept."
  type        = number
}

variable "permissions_boundary_arn" {
  description = "The environment's permissions boundary (modules/terraform-role): every role created here carries it, and the Terraform role may create roles only with it."
  type        = string
}
