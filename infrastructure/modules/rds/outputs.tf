output "address" {
  description = "Host name of the database, for DATABASE_URL."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port of the database."
  value       = aws_db_instance.this.port
}

output "identifier" {
  description = "Instance identifier, for CloudWatch alarms."
  value       = aws_db_instance.this.identifier
}

output "master_user_secret_arn" {
  description = "ARN of the RDS-managed secret holding the master credentials (the ARN, not the value)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}
