variable "ledger_prefix" {
  description = "The environment's ledger prefix from deploy.json (/eventflow/staging): the table is named after it, eventflow-staging-deploy-state, as the deploy engine and the deploy policy name it."
  type        = string

  validation {
    condition     = startswith(var.ledger_prefix, "/") && !endswith(var.ledger_prefix, "/")
    error_message = "ledger_prefix is a path like /eventflow/staging."
  }
}
