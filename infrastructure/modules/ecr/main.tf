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

# The design's retention: the last 10 images of each repository. Older ones are expired, so a
# rollback can reach back at most 10 pushes.
resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Keep the last 10 images"
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
