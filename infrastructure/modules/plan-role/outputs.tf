output "role_arn" {
  description = "Role for the pull requests' plan jobs (aws-actions/configure-aws-credentials role-to-assume)."
  value       = aws_iam_role.this.arn
}
