output "role_arn" {
  description = "Set as the AWS_ROLE_ARN of the GitHub environment (aws-actions/configure-aws-credentials role-to-assume)."
  value       = aws_iam_role.this.arn
}
