region         = "eu-central-1"
aws_account_id = "111111111111" # EventFlow's AWS account: set before the first apply
# Must match the `bucket` in every backend.tf.
state_bucket_name = "eventflow-terraform-state-eu-central-1"
ecr_repositories  = ["eventflow-backend", "eventflow-frontend"]
github_repository = "example-org/eventflow" # set before the first apply

# One entry per environment. account_id: the account it runs in, set before the first apply;
# an environment in another account than this one pulls images across accounts (the
# repositories' policy grants it) and needs the per-account bootstrap (README).
environments = {
  staging = {
    account_id          = "111111111111"
    target_group_prefix = "eventflow-stg"
    reads_ledgers_of    = []
  }
  production = {
    account_id          = "111111111111"
    target_group_prefix = "eventflow-prod"
    # Production promotes only a release staging's ledger shows verified.
    reads_ledgers_of = ["staging"]
  }
}
