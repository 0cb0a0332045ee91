variable "name" {
  description = "Name of the load balancer (and prefix of its companions), e.g. eventflow-production."
  type        = string

  validation {
    condition     = length(var.name) <= 32
    error_message = "A load balancer's name has at most 32 characters."
  }
}

variable "target_group_prefix" {
  description = "Prefix of the target groups' names: <prefix>-<app>[-<colour>], at most 32 characters in all."
  type        = string

  validation {
    condition     = length(var.target_group_prefix) <= 17
    error_message = "target_group_prefix has at most 17 characters, so that <prefix>-frontend-green fits in 32."
  }
}

variable "blue_green" {
  description = "Two target groups per app behind weighted forwards and a test listener (production), instead of one target group per app (staging)."
  type        = bool
}

variable "vpc_id" {
  description = "VPC of the load balancer and its target groups."
  type        = string
}

variable "vpc_cidr" {
  description = "The VPC's address range: the load balancer talks to targets in it only."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets in two zones."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate for the environment's host name, in the load balancer's region."
  type        = string
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listeners: TLS 1.2 and 1.3 only."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "target_port" {
  description = "Port the containers listen on."
  type        = number
  default     = 8080
}

variable "backend_health_path" {
  description = "Health check path of the backend's target groups."
  type        = string
  default     = "/health"
}

variable "frontend_health_path" {
  description = "Health check path of the dashboard's target groups (nginx answers /healthz itself; /health belongs to the backend)."
  type        = string
  default     = "/healthz"
}

variable "test_listener_port" {
  description = "Port of the blue/green test listener, which serves the idle colour."
  type        = number
  default     = 8443
}

variable "test_listener_key_secret_arn" {
  description = "Blue/green: the Secrets Manager secret whose value the test listener's rules require in the test key header."
  type        = string
  default     = ""
}

variable "test_listener_header" {
  description = "Blue/green: the header carrying the test key (the deploy and the smoke suite send it)."
  type        = string
  default     = "X-EventFlow-Test-Key"
}

variable "deletion_protection" {
  description = "Refuse to delete the load balancer."
  type        = bool
}

variable "access_log_retention_days" {
  description = "Days the access logs are kept in S3."
  type        = number
  default     = 90
}

variable "kms_key_arn" {
  description = "Key that encrypts the WAF log group."
  type        = string
}

variable "log_retention_days" {
  description = "Days the WAF logs are kept."
  type        = number
}

variable "waf_rate_limit_per_ip" {
  description = "Requests one client IP address may send in 5 minutes before the WAF blocks it (about 67 a second by default; the backend's per-API-key limit is 200 a second)."
  type        = number
  default     = 20000

  validation {
    condition     = var.waf_rate_limit_per_ip >= 100 && var.waf_rate_limit_per_ip <= 2000000000
    error_message = "waf_rate_limit_per_ip must be from 100 to 2,000,000,000 requests per 5 minutes."
  }
}
