# The ECS cluster, one task definition per app and the services that run them on Fargate.
#
# Terraform creates each task definition once, as the seed of its family; from then on the
# deploy engine registers the revisions (the running one copied, only the image changed) and
# points the services at them. The services therefore ignore `task_definition` (and
# `desired_count`, which blue/green deploys scale), and old revisions are never deregistered by
# Terraform (`skip_destroy`), so every release stays a rollback target.

data "aws_caller_identity" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
}

resource "aws_ecs_cluster" "this" {
  name = var.cluster_name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  # Every ECS Exec session (the database shell, database_shell.tf) is encrypted with the
  # environment's key and logged, keystrokes and output, to its own log group.
  configuration {
    execute_command_configuration {
      kms_key_id = var.kms_key_arn
      logging    = "OVERRIDE"

      log_configuration {
        cloud_watch_log_group_name     = aws_cloudwatch_log_group.exec.name
        cloud_watch_encryption_enabled = true
      }
    }
  }
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_cloudwatch_log_group" "app" {
  #checkov:skip=CKV_AWS_338:Retention is per environment (log_retention_days): production keeps a year, staging 30 days.
  for_each = var.apps

  name              = "/ecs/${var.cluster_name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

# The production bake's ingestion watch (xtask/deploy/src/metrics): the backend's
# `events accepted` log line, summed per minute as `EventFlow/<cluster>` `EventsAccepted`. No
# default value: a minute without the line publishes nothing, which the watch reads as none.
resource "aws_cloudwatch_log_metric_filter" "events_accepted" {
  for_each = { for name, app in var.apps : name => app if name == "backend" }

  name           = "${var.cluster_name}-events-accepted"
  log_group_name = aws_cloudwatch_log_group.app[each.key].name
  pattern        = "{ $.message = \"events accepted\" }"

  metric_transformation {
    name      = "EventsAccepted"
    namespace = "EventFlow/${var.cluster_name}"
    value     = "$.accepted"
  }
}

# ---- Roles --------------------------------------------------------------------------------------

data "aws_iam_policy_document" "tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# What ECS itself does to start a task: pull the image, write the logs, read the secrets.
resource "aws_iam_role" "execution" {
  for_each = var.apps

  name                 = "${var.cluster_name}-${each.key}-execution"
  assume_role_policy   = data.aws_iam_policy_document.tasks_assume.json
  permissions_boundary = var.permissions_boundary_arn
}

resource "aws_iam_role_policy_attachment" "execution" {
  for_each = var.apps

  role       = aws_iam_role.execution[each.key].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "execution_secrets" {
  for_each = { for app, cfg in var.apps : app => cfg if length(cfg.secrets) > 0 }

  statement {
    sid       = "ReadTheAppsSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = values(each.value.secrets)
  }

  statement {
    sid       = "DecryptTheAppsSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "execution_secrets" {
  for_each = data.aws_iam_policy_document.execution_secrets

  name   = "read-secrets"
  role   = aws_iam_role.execution[each.key].id
  policy = each.value.json
}

# What the app's own code may do in AWS: nothing so far, so no policy.
resource "aws_iam_role" "task" {
  for_each = var.apps

  name                 = "${var.cluster_name}-${each.key}-task"
  assume_role_policy   = data.aws_iam_policy_document.tasks_assume.json
  permissions_boundary = var.permissions_boundary_arn
}

# ---- Network ------------------------------------------------------------------------------------

resource "aws_security_group" "app" {
  for_each = var.apps

  name        = "${var.cluster_name}-${each.key}"
  description = "EventFlow ${var.cluster_name} ${each.key} tasks"
  vpc_id      = var.vpc_id

  tags = {
    Name = "${var.cluster_name}-${each.key}"
  }
}

resource "aws_vpc_security_group_ingress_rule" "from_load_balancer" {
  for_each = var.apps

  security_group_id            = aws_security_group.app[each.key].id
  referenced_security_group_id = var.load_balancer_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  description                  = "From the load balancer"
}

# HTTPS out, through NAT: ECR, Secrets Manager and CloudWatch Logs have no fixed addresses.
resource "aws_vpc_security_group_egress_rule" "https" {
  for_each = var.apps

  security_group_id = aws_security_group.app[each.key].id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  description       = "HTTPS to AWS APIs"
}

resource "aws_vpc_security_group_egress_rule" "database" {
  for_each = { for app, cfg in var.apps : app => cfg if cfg.database_client }

  security_group_id = aws_security_group.app[each.key].id
  cidr_ipv4         = var.vpc_cidr
  ip_protocol       = "tcp"
  from_port         = 5432
  to_port           = 5432
  description       = "PostgreSQL in the VPC"
}

# ---- Task definitions ---------------------------------------------------------------------------

# Each app's template: a deploy builds its revision from the newest one (so what is changed here
# ships with the next deploy) and registers it in the app's own family, which Terraform never
# writes. The services start on the template and ignore task_definition from then on.
resource "aws_ecs_task_definition" "app" {
  for_each = var.apps

  family                   = each.value.template_family
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = aws_iam_role.execution[each.key].arn
  task_role_arn            = aws_iam_role.task[each.key].arn
  skip_destroy             = true

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([
    {
      name                   = each.value.container
      image                  = each.value.image
      essential              = true
      readonlyRootFilesystem = each.value.readonly_root_filesystem
      portMappings = [
        {
          name          = "http"
          containerPort = each.value.port
          protocol      = "tcp"
        },
      ]
      environment = [for name in sort(keys(each.value.environment)) : { name = name, value = each.value.environment[name] }]
      # Secrets come from Secrets Manager at task start; their values never pass through here.
      secrets = [for name in sort(keys(each.value.secrets)) : { name = name, valueFrom = each.value.secrets[name] }]
      # The image has no HTTP client: bash's /dev/tcp makes the one request. It asks the liveness
      # path, which touches no database: a slow database takes a task out of the load balancer
      # (health_path, its readiness check) but never gets it killed and replaced.
      healthCheck = {
        command     = ["CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${each.value.port} && printf 'GET ${each.value.liveness_path} HTTP/1.0\\r\\n\\r\\n' >&3 && read -r _ status _ <&3 && [ \"$status\" = 200 ]"]
        interval    = 10
        timeout     = 5
        retries     = 3
        startPeriod = 30
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.app[each.key].name
          awslogs-region        = var.region
          awslogs-stream-prefix = each.key
        }
      }
      stopTimeout = 30
    },
  ])
}

# ---- Services -----------------------------------------------------------------------------------

resource "aws_ecs_service" "this" {
  for_each = var.services

  name                               = each.key
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.app[each.value.app].arn
  desired_count                      = each.value.desired_count
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = var.health_check_grace_period_seconds
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  wait_for_steady_state              = false

  deployment_controller {
    type = "ECS"
  }

  # A rolling deploy whose new tasks keep failing is stopped and rolled back by ECS itself; the
  # deploy engine reads that as a failed deploy.
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.app[each.value.app].id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = each.value.target_group_arn
    container_name   = var.apps[each.value.app].container
    container_port   = var.apps[each.value.app].port
  }

  tags = {
    App = each.value.app
  }

  # The deploy engine owns the running revision and, for blue/green, the task counts.
  lifecycle {
    ignore_changes = [task_definition, desired_count]
  }

  depends_on = [aws_iam_role_policy.execution_secrets]
}
