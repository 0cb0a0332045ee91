variable "repositories" {
  description = "Names of the repositories, e.g. [\"eventflow-backend\", \"eventflow-frontend\"]."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "Key that encrypts the images at rest."
  type        = string
}

variable "pull_account_ids" {
  description = "Accounts (of environments in their own account) allowed to pull the images; empty when every environment shares the registry's account."
  type        = list(string)
  default     = []
}

variable "releases_kept" {
  description = "How many `v<N>` images the lifecycle policy keeps: far more than there will ever be, so none expires."
  type        = number
  default     = 10000
}
