output "address" {
  description = "Host name of the database, for DATABASE_URL."
  value       = aws_db_instance.this.address
}

output "database_url_format" {
  description = "DATABASE_URL for this database, to fill in USER and PASSWORD: verified TLS against the RDS CA bundle the backend image ships (backend/certs/rds-ca)."
  value       = "postgres://USER:PASSWORD@${aws_db_instance.this.address}:${aws_db_instance.this.port}/${aws_db_instance.this.db_name}?sslmode=verify-full&sslrootcert=/etc/eventflow/rds-ca/eu-central-1-bundle.pem"
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
