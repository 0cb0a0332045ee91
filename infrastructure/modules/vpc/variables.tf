variable "name" {
  description = "Name of the VPC and prefix of everything in it, e.g. eventflow-staging."
  type        = string
}

variable "cidr_block" {
  description = "The VPC's address range; public subnets take its /24s 0 and 1, private subnets 10 and 11."
  type        = string

  validation {
    condition     = can(cidrsubnet(var.cidr_block, 8, 11))
    error_message = "cidr_block must be a valid IPv4 range of /16 to /20 (it is cut into /24-style subnets)."
  }
}

variable "availability_zones" {
  description = "The two availability zones the subnets are spread over."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) == 2
    error_message = "Exactly two availability zones: one public and one private subnet in each."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for both zones (cheaper, but a zone outage cuts the other zone's egress) instead of one per zone."
  type        = bool
}

variable "kms_key_arn" {
  description = "Key that encrypts the flow-log group."
  type        = string
}

variable "log_retention_days" {
  description = "Days the flow logs are kept."
  type        = number
}

variable "permissions_boundary_arn" {
  description = "The environment's permissions boundary (modules/terraform-role): every role created here carries it, and the Terraform role may create roles only with it."
  type        = string
}
