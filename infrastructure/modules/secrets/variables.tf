variable "name_prefix" {
  description = "Prefix of the secrets' names, e.g. eventflow/staging: the secrets are <prefix>/database_url, <prefix>/jwt_secret, <prefix>/api_keys_secret, <prefix>/admin_api_token, <prefix>/test_listener_key."
  type        = string
}

variable "kms_key_arn" {
  description = "Key that encrypts the secrets; the task execution roles may decrypt with it."
  type        = string
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can still be restored."
  type        = number
  default     = 30
}
