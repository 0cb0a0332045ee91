# The state of the account-wide resources, in the bucket this configuration creates. The very
# first apply runs with a local state and then moves it here: see infrastructure/README.md,
# "Bootstrap, once per account".
terraform {
  backend "s3" {
    bucket       = "eventflow-terraform-state-eu-central-1"
    key          = "global/terraform.tfstate"
    region       = "eu-central-1"
    encrypt      = true
    kms_key_id   = "alias/eventflow-terraform-state"
    use_lockfile = true
  }
}
