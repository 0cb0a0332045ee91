# The deploy engine's state for one environment (xtask/deploy): the deploy lease (`sk = lock`,
# taken, renewed and released with conditional writes) and the release ledger
# (`sk = release#<start time>`, read newest-first with one Query, capped at the newest 100 by the
# engine). `ttl` lets DynamoDB remove a dead run's lease on its own.

resource "aws_dynamodb_table" "this" {
  #checkov:skip=CKV_AWS_119:Encrypted with DynamoDB's AWS-managed key: with the environment's customer-managed key, every principal that reads the ledger would also need kms:Decrypt through DynamoDB, which the deploy role's exact-actions policy does not grant. The table holds release metadata, no secrets.
  name         = "${replace(trimprefix(var.ledger_prefix, "/"), "/", "-")}-deploy-state"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }

  deletion_protection_enabled = true
}
