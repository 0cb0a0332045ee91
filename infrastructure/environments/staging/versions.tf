terraform {
  # The version the workflows install (hashicorp/setup-terraform's terraform_version).
  required_version = "1.11.4"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.8"
    }
  }
}

provider "aws" {
  region              = var.region
  allowed_account_ids = [var.aws_account_id]

  # With an account of its own, the environment is reached through its role there (README:
  # Bootstrap, one account per environment); in the shared account, directly.
  dynamic "assume_role" {
    for_each = var.assume_role_name == null ? [] : [var.assume_role_name]

    content {
      role_arn     = "arn:aws:iam::${var.aws_account_id}:role/${assume_role.value}"
      session_name = "eventflow-staging-terraform"
    }
  }

  default_tags {
    tags = {
      Project     = "eventflow"
      Environment = "staging"
      ManagedBy   = "terraform"
      Source      = "infrastructure/environments/staging"
    }
  }
}
