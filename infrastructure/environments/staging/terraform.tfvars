# EventFlow staging. Values marked "set before the first apply" are this account's.

region             = "eu-central-1"
aws_account_id     = "111111111111" # set before the first apply
availability_zones = ["eu-central-1a", "eu-central-1b"]
vpc_cidr           = "10.20.0.0/16"

domain_name     = "staging.eventflow.example.com"
certificate_arn = "arn:aws:acm:eu-central-1:111111111111:certificate/00000000-0000-0000-0000-000000000000" # set before the first apply

github_repository = "example-org/eventflow" # set before the first apply
initial_image_tag = "bootstrap"             # an image pushed to both repositories before the first apply

backend_desired_count  = 1
frontend_desired_count = 1

db_instance_class        = "db.t4g.micro"
db_allocated_storage     = 20
db_max_allocated_storage = 100
db_multi_az              = false
db_deletion_protection   = true
db_backup_retention_days = 7

log_retention_days = 30
alarm_emails       = []

database_shell_enabled     = true                               # the way into the database; docs/runbook.md#a-way-into-the-database
break_glass_principal_arns = ["arn:aws:iam::111111111111:root"] # set before the first apply: the on-call engineers (MFA required)
