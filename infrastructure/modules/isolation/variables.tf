variable "partition" {
  description = "The AWS partition (aws)."
  type        = string
}

variable "other_environments" {
  description = "The environments the roles must never touch: name, target-group name prefix, and whether their release ledger may be read (production reads staging's before promoting)."
  type = list(object({
    name                = string
    target_group_prefix = string
    ledger_readable     = bool
  }))
}

variable "ledger_read_actions" {
  description = "What a role may still do on a readable ledger of another environment."
  type        = list(string)
  default = [
    "dynamodb:GetItem",
    "dynamodb:Query",
    "ssm:GetParameter",
    "ssm:GetParametersByPath",
  ]
}
