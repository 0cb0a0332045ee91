output "state_bucket" {
  description = "Bucket of every EventFlow Terraform state."
  value       = aws_s3_bucket.state.bucket
}

output "github_oidc_provider_arn" {
  description = "The account's OIDC provider for GitHub Actions."
  value       = aws_iam_openid_connect_provider.github.arn
}

output "ecr_repository_urls" {
  description = "Image repository URL by name."
  value       = module.ecr.repository_urls
}

output "terraform_role_arns" {
  description = "Role for each environment's Terraform jobs in GitHub Actions, by environment."
  value       = { for environment, role in module.terraform_role : environment => role.role_arn }
}

output "plan_role_arns" {
  description = "Read-only role for each environment's pull-request plans (repository variables STAGING_PLAN_ROLE_ARN, PRODUCTION_PLAN_ROLE_ARN), by environment."
  value       = { for environment, role in module.plan_role : environment => role.role_arn }
}
