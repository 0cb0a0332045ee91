# EventFlow production: what is this account's. Values marked "set before the first apply".

region         = "eu-central-1"
aws_account_id = "111111111111" # set before the first apply
# With an account of its own: the role Terraform assumes there, and global's account.
# assume_role_name    = "eventflow-production-terraform"
# registry_account_id = "000000000000"

domain_name     = "eventflow.example.com"
certificate_arn = "arn:aws:acm:eu-central-1:111111111111:certificate/00000000-0000-0000-0000-000000000001" # set before the first apply

github_repository = "example-org/eventflow"          # set before the first apply
alarm_emails      = ["oncall@eventflow.example.com"] # set before the first apply: the on-call list

database_shell_enabled     = false                              # docs/runbook.md#a-way-into-the-database (on only during an incident)
break_glass_principal_arns = ["arn:aws:iam::111111111111:root"] # set before the first apply: the on-call engineers (MFA required)
