output "role_arn" {
  description = "Set as the AWS_ROLE_ARN of the GitHub environment (aws-actions/configure-aws-credentials role-to-assume)."
  value       = aws_iam_role.this.arn
}

output "deploy_policy_json" {
  description = "The deploy role's policy, which the break-glass role (modules/break-glass) gets too, so a human's rollback has exactly CI's permissions."
  value       = local.deploy_policy
}
