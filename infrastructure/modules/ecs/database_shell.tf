# The way into the database: a one-off Fargate task with the PostgreSQL client, reached with ECS
# Exec. Not the backend's own tasks: their image has no psql, and ECS Exec's agent can't run in a
# container with a read-only root filesystem, which the backend keeps. The shell task runs in the
# private subnets with the database client's security group, reads DATABASE_URL from the same
# secret as the backend (never on a command line), trusts only the RDS CA bundle, and stops by
# itself after an hour. Off unless `database_shell_enabled` (staging: on; production: off, turned
# on for an incident, see docs/runbook.md#a-way-into-the-database).

locals {
  # The app whose tasks connect to the database: its secrets and security group are the shell's.
  database_app = one([for app, cfg in var.apps : app if cfg.database_client])
  shell_count  = var.database_shell_enabled ? 1 : 0
}

resource "aws_cloudwatch_log_group" "exec" {
  #checkov:skip=CKV_AWS_338:Retention is per environment (log_retention_days): production keeps a year, staging 30 days.
  name              = "/ecs/${var.cluster_name}/exec"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_cloudwatch_log_group" "database_shell" {
  #checkov:skip=CKV_AWS_338:Retention is per environment (log_retention_days): production keeps a year, staging 30 days.
  count = local.shell_count

  name              = "/ecs/${var.cluster_name}/database-shell"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

# What ECS Exec's agent in the shell task needs: its Session Manager channels, the session log,
# and the key that encrypts both.
data "aws_iam_policy_document" "database_shell_exec" {
  #checkov:skip=CKV_AWS_111:ssmmessages channels have no resource ARN; "*" is the only form AWS accepts.
  #checkov:skip=CKV_AWS_356:ssmmessages channels have no resource ARN; "*" is the only form AWS accepts.
  statement {
    sid       = "ExecSessionChannels"
    actions   = ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"]
    resources = ["*"]
  }

  statement {
    sid       = "ExecSessionLog"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.exec.arn}:*"]
  }

  statement {
    sid       = "ExecLogGroupLookup"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["*"]
  }

  statement {
    sid       = "ExecSessionEncryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role" "database_shell" {
  count = local.shell_count

  name                 = "${var.cluster_name}-database-shell"
  assume_role_policy   = data.aws_iam_policy_document.tasks_assume.json
  permissions_boundary = var.permissions_boundary_arn
}

resource "aws_iam_role_policy" "database_shell_exec" {
  count = local.shell_count

  role   = aws_iam_role.database_shell[0].id
  name   = "ecs-exec"
  policy = data.aws_iam_policy_document.database_shell_exec.json
}

resource "aws_ecs_task_definition" "database_shell" {
  count = local.shell_count

  family                   = "${var.cluster_name}-database-shell"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  # The backend's execution role already reads DATABASE_URL and pulls through the NAT.
  execution_role_arn = aws_iam_role.execution[local.database_app].arn
  task_role_arn      = aws_iam_role.database_shell[0].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([
    {
      name      = "psql"
      image     = var.database_shell_image
      essential = true
      # ECS Exec's agent writes to the container's filesystem.
      readonlyRootFilesystem = false
      # DATABASE_URL names the RDS CA bundle at the backend image's path: put it there, then
      # wait for a session; the task ends by itself after an hour.
      entryPoint = ["bash", "-c"]
      command    = ["mkdir -p /etc/eventflow/rds-ca && printf '%s' \"$RDS_CA_BUNDLE\" > /etc/eventflow/rds-ca/eu-central-1-bundle.pem && exec sleep 3600"]
      environment = [
        { name = "RDS_CA_BUNDLE", value = file("${path.module}/../../../backend/certs/rds-ca/eu-central-1-bundle.pem") },
      ]
      secrets = [
        { name = "DATABASE_URL", valueFrom = var.apps[local.database_app].secrets["DATABASE_URL"] },
      ]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.database_shell[0].name
          awslogs-region        = var.region
          awslogs-stream-prefix = "psql"
        }
      }
    },
  ])
}
