output "role_arn" {
  description = "Role for the GitHub environment's Terraform jobs (aws-actions/configure-aws-credentials role-to-assume)."
  value       = aws_iam_role.this.arn
}

output "boundary_policy_arn" {
  description = "The permissions boundary every role of the environment carries."
  value       = aws_iam_policy.boundary.arn
}
