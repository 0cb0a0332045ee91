output "environment_secrets" {
  description = "The names of the secrets each GitHub environment holds (the values are set with `gh secret set --env ENV NAME`, or sealed in encrypted_secrets)."
  value       = { for env, cfg in local.deployments : env => cfg.secret_names }
}
