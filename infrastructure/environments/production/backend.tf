# Production's own state, in the account's state bucket (created by infrastructure/global), locked
# with S3's native lock file while a plan or apply runs.
terraform {
  backend "s3" {
    bucket       = "eventflow-terraform-state-eu-central-1"
    key          = "production/terraform.tfstate"
    region       = "eu-central-1"
    encrypt      = true
    kms_key_id   = "alias/eventflow-terraform-state"
    use_lockfile = true
  }
}
