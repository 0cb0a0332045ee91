# ARNs only: the values stay in Secrets Manager.
output "arns" {
  description = "ARN of each secret, by key (database_url, jwt_secret, api_keys_secret, admin_api_token, test_listener_key)."
  value       = { for key, secret in aws_secretsmanager_secret.this : key => secret.arn }
}
