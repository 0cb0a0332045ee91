output "key_arn" {
  description = "ARN of the environment's key."
  value       = aws_kms_key.this.arn
}

output "alias_name" {
  description = "The key's alias."
  value       = aws_kms_alias.this.name
}
