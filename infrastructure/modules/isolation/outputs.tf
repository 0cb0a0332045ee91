output "deny_statements" {
  description = "IAM Deny statements (policy JSON keys); empty when there is no other environment."
  value       = [for c in local.candidates : c.statement if c.include]
}
