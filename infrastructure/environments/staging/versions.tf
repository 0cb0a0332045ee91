terraform {
  required_version = ">= 1.11.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}

provider "aws" {
  region              = var.region
  allowed_account_ids = [var.aws_account_id]

  default_tags {
    tags = {
      Project     = "eventflow"
      Environment = "staging"
      ManagedBy   = "terraform"
      Source      = "infrastructure/environments/staging"
    }
  }
}
