# EventFlow production. Values marked "set before the first apply" are this account's.

region             = "eu-central-1"
aws_account_id     = "111111111111" # set before the first apply
availability_zones = ["eu-central-1a", "eu-central-1b"]
vpc_cidr           = "10.30.0.0/16"

domain_name     = "eventflow.example.com"
certificate_arn = "arn:aws:acm:eu-central-1:111111111111:certificate/00000000-0000-0000-0000-000000000001" # set before the first apply

github_repository = "example-org/eventflow" # set before the first apply
initial_image_tag = "bootstrap"             # an image pushed to both repositories before the first apply

# Where the blue/green smoke tests run from (the test listener serves an unverified release):
# the deploy runners' egress addresses. Set before the first apply; 192.0.2.0/24 is a
# documentation range that reaches nothing.
test_listener_cidrs = ["192.0.2.0/24"]

backend_desired_count  = 2
frontend_desired_count = 2

db_instance_class        = "db.t4g.medium"
db_allocated_storage     = 50
db_max_allocated_storage = 500
db_multi_az              = true
db_deletion_protection   = true
db_backup_retention_days = 14

log_retention_days = 365
alarm_emails       = ["oncall@eventflow.example.com"] # set before the first apply: the on-call list

database_shell_enabled     = false                              # on only during an incident: docs/runbook.md#a-way-into-the-database
break_glass_principal_arns = ["arn:aws:iam::111111111111:root"] # set before the first apply: the on-call engineers (MFA required)
