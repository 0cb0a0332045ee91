# What the whole AWS account shares, created once before any environment (README: "Bootstrap,
# once per account"):
# - the S3 bucket holding every Terraform state (native S3 locking: no lock table),
# - the IAM OIDC provider that lets GitHub Actions assume roles without stored keys,
# - the ECR repositories, shared by staging and production (production deploys the image that
#   passed staging, by digest).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# ---- Terraform state ----------------------------------------------------------------------------

data "aws_iam_policy_document" "state_key" {
  #checkov:skip=CKV_AWS_109:A key policy's "*" resource is the key itself; the account-root statement is AWS's default key policy, which leaves access to IAM policies.
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource is the key itself; the account-root statement is AWS's default key policy, which leaves access to IAM policies.
  #checkov:skip=CKV_AWS_356:A key policy's "*" resource is the key itself; the account-root statement is AWS's default key policy, which leaves access to IAM policies.
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "state" {
  description             = "EventFlow Terraform state"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.state_key.json
}

resource "aws_kms_alias" "state" {
  name          = "alias/eventflow-terraform-state"
  target_key_id = aws_kms_key.state.key_id
}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_144:Versioned state in one region; a regional outage stops deploys, not the service. Cross-region replication is not worth a second bucket and key yet.
  #checkov:skip=CKV_AWS_18:Every access to the state is already in CloudTrail; server access logs would need a further bucket.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to state writes.
  bucket = var.state_bucket_name

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# Every earlier state is kept: a bad apply can be undone from the previous version.
resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.state.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    id     = "keep-old-states-a-year"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 365
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "state_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id
  policy = data.aws_iam_policy_document.state_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.state]
}

# ---- GitHub Actions -----------------------------------------------------------------------------

# One per account; each environment's deploy role trusts it for its own repository and
# environment only (modules/github-oidc).
resource "aws_iam_openid_connect_provider" "github" {
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}

# ---- Images -------------------------------------------------------------------------------------

data "aws_iam_policy_document" "images_key" {
  #checkov:skip=CKV_AWS_109:A key policy's "*" resource is the key itself; the account-root statement is AWS's default key policy, which leaves access to IAM policies.
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource is the key itself; the account-root statement is AWS's default key policy, which leaves access to IAM policies.
  #checkov:skip=CKV_AWS_356:A key policy's "*" resource is the key itself; the account-root statement is AWS's default key policy, which leaves access to IAM policies.
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "images" {
  description             = "EventFlow container images"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.images_key.json
}

resource "aws_kms_alias" "images" {
  name          = "alias/eventflow-images"
  target_key_id = aws_kms_key.images.key_id
}

module "ecr" {
  source = "../modules/ecr"

  repositories = var.ecr_repositories
  kms_key_arn  = aws_kms_key.images.arn
  # Environments in their own accounts pull (never push) the images from here.
  pull_account_ids = sort(distinct([for env in var.environments : env.account_id if env.account_id != var.aws_account_id]))
}

# ---- Terraform in GitHub Actions ----------------------------------------------------------------

# One per environment, for `cargo xtask infra plan|apply <env>` in the environment's workflow
# jobs. The deploy roles (environments/<env>, modules/github-oidc) cannot run Terraform, and
# these cannot be assumed outside the environment's GitHub jobs.
module "terraform_role" {
  source   = "../modules/terraform-role"
  for_each = var.environments

  role_name          = "eventflow-${each.key}-github-terraform"
  environment        = each.key
  oidc_provider_arn  = aws_iam_openid_connect_provider.github.arn
  github_repository  = var.github_repository
  github_environment = each.key
  state_bucket_name  = aws_s3_bucket.state.bucket
  state_key_arn      = aws_kms_key.state.arn
  other_environments = [for name, other in var.environments : {
    name                = name
    target_group_prefix = other.target_group_prefix
    ledger_readable     = contains(each.value.reads_ledgers_of, name)
  } if name != each.key]
}

# One per environment, for the plans of pull requests that touch infrastructure/ (ci.yml's
# infra-plan job, in the GitHub environment `plan`): read only.
module "plan_role" {
  source   = "../modules/plan-role"
  for_each = var.environments

  role_name          = "eventflow-${each.key}-github-plan"
  environment        = each.key
  oidc_provider_arn  = aws_iam_openid_connect_provider.github.arn
  github_repository  = var.github_repository
  github_environment = "plan"
  state_bucket_name  = aws_s3_bucket.state.bucket
  state_key_arn      = aws_kms_key.state.arn
  other_environments = [for name, other in var.environments : {
    name                = name
    target_group_prefix = other.target_group_prefix
    ledger_readable     = false
  } if name != each.key]
}
