output "table_name" {
  description = "The deploy-state table's name."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "The deploy-state table's ARN."
  value       = aws_dynamodb_table.this.arn
}
