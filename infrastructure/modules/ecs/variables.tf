variable "cluster_name" {
  description = "Name of the ECS cluster, e.g. eventflow-staging; also the prefix of the roles, groups and log groups."
  type        = string
}

variable "region" {
  description = "Region of the log groups and of Secrets Manager."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the tasks."
  type        = string
}

variable "vpc_cidr" {
  description = "The VPC's address range: database clients may reach PostgreSQL in it."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the tasks run in."
  type        = list(string)
}

variable "load_balancer_security_group_id" {
  description = "Security group of the load balancer: the only source of traffic to the tasks."
  type        = string
}

variable "kms_key_arn" {
  description = "Key of the log groups and of the secrets."
  type        = string
}

variable "log_retention_days" {
  description = "Days the containers' logs are kept."
  type        = number
}

variable "health_check_grace_period_seconds" {
  description = "Seconds a new task has before failing load-balancer health checks count."
  type        = number
  default     = 60
}

variable "apps" {
  description = <<-EOT
    The apps, by name: the template task definition of each, registered in `template_family`; a
    deploy builds each new revision from the template's newest and registers it in `family`. `environment` holds plain settings only;
    `secrets` maps a variable name to a Secrets Manager ARN. `health_path` is the readiness check
    the load balancer uses; `liveness_path` the container health check's, which must not depend on
    the database (a slow database must not get healthy tasks killed).
  EOT
  type = map(object({
    family                   = string
    template_family          = string
    container                = string
    image                    = string
    port                     = number
    cpu                      = number
    memory                   = number
    health_path              = string
    liveness_path            = string
    database_client          = bool
    readonly_root_filesystem = bool
    environment              = map(string)
    secrets                  = map(string)
  }))

  validation {
    condition = alltrue(flatten([
      for cfg in values(var.apps) : [
        for name in keys(cfg.environment) : !contains(["DATABASE_URL", "JWT_SECRET", "API_KEYS_SECRET", "ADMIN_API_TOKEN"], name)
      ]
    ]))
    error_message = "DATABASE_URL, JWT_SECRET, API_KEYS_SECRET and ADMIN_API_TOKEN go in `secrets` (from Secrets Manager), never in `environment`."
  }
}

variable "services" {
  description = "The ECS services, by service name: which app each runs, its target group and its initial task count."
  type = map(object({
    app              = string
    target_group_arn = string
    desired_count    = number
  }))
}

variable "database_shell_enabled" {
  description = "Whether the database shell task (psql over ECS Exec) exists. Keep it off in production except during an incident."
  type        = bool
  default     = false
}

variable "database_shell_image" {
  description = "The PostgreSQL client image of the database shell task (bash and psql 15)."
  type        = string
  default     = "public.ecr.aws/docker/library/postgres:15-bookworm"
}

variable "permissions_boundary_arn" {
  description = "The environment's permissions boundary (modules/terraform-role): every role created here carries it, and the Terraform role may create roles only with it."
  type        = string
}
