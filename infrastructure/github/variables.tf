variable "github_owner" {
  description = "The organisation or user owning the repository."
  type        = string
}

variable "repository" {
  description = "The repository's name (without the owner)."
  type        = string
}

variable "production_reviewer_team_ids" {
  description = "Teams (numeric ids) whose approval a production job waits for."
  type        = list(number)
  default     = []
}

variable "production_reviewer_user_ids" {
  description = "Users (numeric ids) whose approval a production job waits for."
  type        = list(number)
  default     = []
}

variable "encrypted_secrets" {
  description = "Secret values sealed for the repository's public key (base64, as `gh secret set` sends them), by environment then name. Only names declared in main.tf are accepted. Values set outside Terraform (`gh secret set --env …`) need none."
  type        = map(map(string))
  default     = {}
  sensitive   = true
}
