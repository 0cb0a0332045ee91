variable "repositories" {
  description = "Names of the repositories, e.g. [\"eventflow-backend\", \"eventflow-frontend\"]."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "Key that encrypts the images at rest."
  type        = string
}
