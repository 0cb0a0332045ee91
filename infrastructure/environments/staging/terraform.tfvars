# EventFlow staging: what is this account's. Values marked "set before the first apply".

region         = "eu-central-1"
aws_account_id = "111111111111" # set before the first apply
# With an account of its own: the role Terraform assumes there, and global's account.
# assume_role_name    = "eventflow-staging-terraform"
# registry_account_id = "000000000000"

domain_name     = "staging.eventflow.example.com"
certificate_arn = "arn:aws:acm:eu-central-1:111111111111:certificate/00000000-0000-0000-0000-000000000000" # set before the first apply

github_repository = "example-org/eventflow" # set before the first apply
alarm_emails      = []

database_shell_enabled     = true                               # docs/runbook.md#a-way-into-the-database
break_glass_principal_arns = ["arn:aws:iam::111111111111:root"] # set before the first apply: the on-call engineers (MFA required)
