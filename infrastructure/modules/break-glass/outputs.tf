output "role_arn" {
  description = "The break-glass role: `aws sts assume-role --role-arn … --serial-number <your MFA device> --token-code <code>` (docs/runbook.md)."
  value       = aws_iam_role.this.arn
}
