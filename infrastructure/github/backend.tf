# GitHub's side has its own state beside the environments', in the state bucket (infrastructure/global).
terraform {
  backend "s3" {
    bucket       = "eventflow-terraform-state-eu-central-1"
    key          = "github/terraform.tfstate"
    region       = "eu-central-1"
    encrypt      = true
    kms_key_id   = "alias/eventflow-terraform-state"
    use_lockfile = true
  }
}
