variable "name" {
  description = "Name of the key's alias (alias/<name>), e.g. eventflow-staging."
  type        = string
}

variable "deletion_window_in_days" {
  description = "Days a deleted key can still be recovered: everything encrypted with it is lost after that."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be from 7 to 30."
  }
}
