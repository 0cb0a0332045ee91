# The image repositories, shared by staging and production: production runs the very image
# (same digest) that passed staging, re-tagged through the registry API, never rebuilt.
#
# Tags are immutable, all but one: `latest`. A git sha or a release tag `v<N>` names one image
# for good, and the deploy engine only ever adds such tags. `latest` follows production's
# release (the engine moves it once production verified a release, and back on a rollback), so
# it must be movable; nothing deploys by `latest` (task definitions name `v<N>`), so letting it
# move costs none of the guarantee.

resource "aws_ecr_repository" "this" {
  #checkov:skip=CKV_AWS_51:Every tag is immutable but `latest` (IMMUTABLE_WITH_EXCLUSION), which follows production's release; deploys name `v<N>` tags, which never move.
  for_each = toset(var.repositories)

  name                 = each.value
  image_tag_mutability = "IMMUTABLE_WITH_EXCLUSION"
  force_delete         = false

  image_tag_mutability_exclusion_filter {
    filter      = "latest"
    filter_type = "WILDCARD"
  }

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }
}

# Retention. A lifecycle rule can only expire; an image a higher-priority rule selects is never
# expired by a lower one. So:
# 1. every release tag `v<N>` is kept (a count far beyond any release history): production
#    can roll back to any release, and promotion re-tags a `v<N>` staging verified;
# 2. everything else (git-sha tags, `develop`, untagged layers) keeps the last 10 images, the
#    design's retention: staging's rollback reaches back 10 pushes.
# The infrastructure checks fail on a rule set that could expire a `v*` image.
resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Keep every release (v<N>)"
        selection = {
          tagStatus      = "tagged"
          tagPatternList = ["v*"]
          countType      = "imageCountMoreThan"
          countNumber    = var.releases_kept
        }
        action = {
          type = "expire"
        }
      },
      {
        rulePriority = 2
        description  = "Keep the last 10 other images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = 10
        }
        action = {
          type = "expire"
        }
      },
    ]
  })
}

# Environments in other accounts pull the images (production runs the very digest staging
# verified); only the deploy role of the registry's account pushes and re-tags.
data "aws_iam_policy_document" "pull" {
  count = length(var.pull_account_ids) > 0 ? 1 : 0

  statement {
    sid = "PullFromTheEnvironmentsAccounts"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]

    principals {
      type        = "AWS"
      identifiers = [for account in var.pull_account_ids : "arn:aws:iam::${account}:root"]
    }
  }
}

resource "aws_ecr_repository_policy" "pull" {
  for_each = length(var.pull_account_ids) > 0 ? aws_ecr_repository.this : {}

  repository = each.value.name
  policy     = data.aws_iam_policy_document.pull[0].json
}
