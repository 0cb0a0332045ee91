terraform {
  # The version the workflows install (hashicorp/setup-terraform's terraform_version).
  required_version = "1.11.4"

  required_providers {
    github = {
      source  = "integrations/github"
      version = "~> 6.6"
    }
  }
}

# Credentials: GITHUB_TOKEN (a fine-grained token of a repository administrator, or a GitHub
# App's), never in the configuration (README: GitHub's side).
provider "github" {
  owner = var.github_owner
}
