output "alarm_topic_arn" {
  description = "SNS topic the alarms publish to: subscribe chat integrations or on-call tools to it."
  value       = aws_sns_topic.alarms.arn
}
