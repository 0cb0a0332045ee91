variable "name" {
  description = "Prefix of the alarms and the topic, e.g. eventflow-production."
  type        = string
}

variable "load_balancer_arn_suffix" {
  description = "The load balancer's CloudWatch dimension."
  type        = string
}

variable "target_group_arn_suffixes" {
  description = "CloudWatch dimension of each target group, by a name used in the alarm's name."
  type        = map(string)
}

variable "database_identifier" {
  description = "The RDS instance identifier."
  type        = string
}

variable "error_rate_threshold_percent" {
  description = "5xx rate, in percent of requests, above which the alarm fires (the design's 5%)."
  type        = number
  default     = 5
}

variable "minimum_requests" {
  description = "Requests a minute below which the 5xx rate counts as 0, so that a handful of requests cannot trip the alarm."
  type        = number
  default     = 50
}

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic (each confirms by email once)."
  type        = list(string)
  default     = []
}

variable "kms_key_arn" {
  description = "Key that encrypts the alarm topic."
  type        = string
}

variable "slack_team_id" {
  description = "The Slack workspace's id (T…), authorised once in the AWS Chatbot console; null for email only."
  type        = string
  default     = null
}

variable "slack_channel_id" {
  description = "The Slack channel (C…) the alarms are posted to through AWS Chatbot; null for email only."
  type        = string
  default     = null

  validation {
    condition     = var.slack_channel_id == null || var.slack_team_id != null
    error_message = "slack_channel_id needs slack_team_id: authorise the Slack workspace in the AWS Chatbot console and set its id."
  }
}
