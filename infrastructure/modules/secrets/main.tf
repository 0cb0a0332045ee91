# The application's secrets, as Secrets Manager secrets without a value: Terraform creates the
# containers, an operator puts the values (see infrastructure/README.md), so no secret value is
# ever in Terraform's configuration, plan or state. ECS injects them into the containers.

locals {
  secrets = {
    database_url    = "PostgreSQL URL of the application's database user: postgres://USER:PASSWORD@HOST:5432/eventflow?sslmode=verify-full&sslrootcert=/etc/eventflow/rds-ca/eu-central-1-bundle.pem (the RDS CA bundle in the backend image; the backend refuses anything weaker)"
    jwt_secret      = "HMAC key that signs the dashboard's JWTs: at least 32 random bytes (openssl rand -hex 32)"
    api_keys_secret = "HMAC key that derives and checks API keys: at least 32 random bytes (openssl rand -hex 32)"
    # Only environments that turn the admin API on inject it (staging); production's stays unused.
    admin_api_token = "Bearer token of the admin API, where an environment turns it on: at least 32 random bytes (openssl rand -hex 32)"
    # Blue/green only: the test listener forwards only requests whose X-EventFlow-Test-Key
    # header carries this value (modules/alb); the deploy and the smoke suite send it.
    test_listener_key = "Value of the X-EventFlow-Test-Key header the blue/green test listener requires: 32 random bytes, hex (openssl rand -hex 32)"
  }
}

resource "aws_secretsmanager_secret" "this" {
  for_each = local.secrets

  #checkov:skip=CKV2_AWS_57:Rotation needs the running tasks restarted with the new value in step; it is a manual procedure (infrastructure/README.md, Rotating a secret).
  name                    = "${var.name_prefix}/${each.key}"
  description             = each.value
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days
}
