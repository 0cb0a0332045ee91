region         = "eu-central-1"
aws_account_id = "111111111111" # EventFlow's AWS account: set before the first apply
# Must match the `bucket` in every backend.tf.
state_bucket_name = "eventflow-terraform-state-eu-central-1"
ecr_repositories  = ["eventflow-backend", "eventflow-frontend"]
environments      = ["staging", "production"]
github_repository = "example-org/eventflow" # set before the first apply
