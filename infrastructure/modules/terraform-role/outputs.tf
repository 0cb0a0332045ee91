output "role_arn" {
  description = "Role for the GitHub environment's Terraform jobs (aws-actions/configure-aws-credentials role-to-assume)."
  value       = aws_iam_role.this.arn
}
