# The environment's one public origin. HTTPS on 443 (HTTP on 80 only redirects); `/v1/*` and
# `/health` go to the backend, everything else to the dashboard.
#
# Rolling (staging): one target group per app, plain forwards.
# Blue/green (production): two target groups per app (<app>-blue, <app>-green). The production
# listener forwards by weight (blue 100, green 0 at creation); the test listener answers 403,
# and its rules forward requests carrying the test key to the idle colour (green at creation).
# The deploy engine moves the weights and the test rules' colour; Terraform ignores those
# actions after creation, so the two never fight.

data "aws_caller_identity" "current" {}
data "aws_elb_service_account" "current" {}

locals {
  apps    = ["backend", "frontend"]
  colours = ["blue", "green"]

  target_groups = var.blue_green ? {
    for pair in setproduct(local.apps, local.colours) : "${pair[0]}-${pair[1]}" => pair[0]
  } : { for app in local.apps : app => app }

  health_paths = {
    backend  = var.backend_health_path
    frontend = var.frontend_health_path
  }

  # The backend's paths; the dashboard answers everything else.
  backend_paths = ["/v1/*", "/health"]

  # Weighted forwards of a blue/green listener at creation: blue live, green idle.
  creation_weights = { blue = 100, green = 0 }
  test_weights     = { blue = 0, green = 100 }
}

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "EventFlow ${var.name} load balancer: HTTPS from the internet"
  vpc_id      = var.vpc_id

  tags = {
    Name = "${var.name}-alb"
  }
}

# The service is public: HTTPS from anywhere, and HTTP only to redirect to HTTPS.
resource "aws_vpc_security_group_ingress_rule" "https" {
  security_group_id = aws_security_group.alb.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  description       = "HTTPS from the internet"
}

resource "aws_vpc_security_group_ingress_rule" "http" {
  #checkov:skip=CKV_AWS_260:Port 80 only answers with a redirect to HTTPS (aws_lb_listener.http); no content is served over HTTP.
  security_group_id = aws_security_group.alb.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  description       = "HTTP from the internet, redirected to HTTPS"
}

# The test listener serves the idle colour (a release not yet verified). GitHub-hosted runners
# have no fixed addresses, so it is reachable from anywhere but closed: its default answer is
# 403, and its rules forward only a request carrying the test key header (a Secrets Manager
# value the deploy and the smoke suite send). See docs/blue-green.md.
resource "aws_vpc_security_group_ingress_rule" "test_listener" {
  count = var.blue_green ? 1 : 0

  security_group_id = aws_security_group.alb.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = var.test_listener_port
  to_port           = var.test_listener_port
  description       = "Test listener (idle colour): 403 without the test key header"
}

resource "aws_vpc_security_group_egress_rule" "targets" {
  security_group_id = aws_security_group.alb.id
  cidr_ipv4         = var.vpc_cidr
  ip_protocol       = "tcp"
  from_port         = var.target_port
  to_port           = var.target_port
  description       = "To the ECS tasks in the VPC"
}

resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_76:The Log4j rules are on (AWSManagedRulesKnownBadInputsRuleSet); the policy also demands AWSManagedRulesAnonymousIpList, whose hosting-provider rule would block client apps that send events from cloud servers.
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.public_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = 60

  access_logs {
    bucket  = aws_s3_bucket.access_logs.id
    prefix  = var.name
    enabled = true
  }

  depends_on = [aws_s3_bucket_policy.access_logs]
}

resource "aws_lb_target_group" "this" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; the hop to the tasks stays inside the VPC's private subnets, and the containers serve plain HTTP on 8080.
  for_each = local.target_groups

  name                 = "${var.target_group_prefix}-${each.key}"
  port                 = var.target_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    path                = local.health_paths[each.value]
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = {
    App = each.value
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

# ---- Rolling: plain forwards -------------------------------------------------------------------

resource "aws_lb_listener" "https" {
  count = var.blue_green ? 0 : 1

  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this["frontend"].arn
  }
}

resource "aws_lb_listener_rule" "backend" {
  count = var.blue_green ? 0 : 1

  listener_arn = aws_lb_listener.https[0].arn
  priority     = 10

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this["backend"].arn
  }

  condition {
    path_pattern {
      values = local.backend_paths
    }
  }
}

# ---- Blue/green: weighted forwards that the deploy engine moves ---------------------------------

resource "aws_lb_listener" "production" {
  count = var.blue_green ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type = "forward"

    forward {
      target_group {
        arn    = aws_lb_target_group.this["frontend-blue"].arn
        weight = local.creation_weights.blue
      }

      target_group {
        arn    = aws_lb_target_group.this["frontend-green"].arn
        weight = local.creation_weights.green
      }
    }
  }

  # The deploy engine shifts the weights (ModifyListener); Terraform only sets them at creation.
  lifecycle {
    ignore_changes = [default_action]
  }
}

resource "aws_lb_listener_rule" "production_backend" {
  count = var.blue_green ? 1 : 0

  listener_arn = aws_lb_listener.production[0].arn
  priority     = 10

  action {
    type = "forward"

    forward {
      target_group {
        arn    = aws_lb_target_group.this["backend-blue"].arn
        weight = local.creation_weights.blue
      }

      target_group {
        arn    = aws_lb_target_group.this["backend-green"].arn
        weight = local.creation_weights.green
      }
    }
  }

  condition {
    path_pattern {
      values = local.backend_paths
    }
  }

  # The deploy engine shifts the weights (ModifyRule); Terraform only sets them at creation.
  lifecycle {
    ignore_changes = [action]
  }
}

# The test key, read at plan time: the rules compare the header with it. The value is in the
# state (encrypted, read only by the Terraform role), never in the configuration or the plan's
# output (sensitive); rotating it is a put-secret-value and an apply (README).
data "aws_secretsmanager_secret_version" "test_listener_key" {
  count = var.blue_green ? 1 : 0

  secret_id = var.test_listener_key_secret_arn
}

resource "aws_lb_listener" "test" {
  count = var.blue_green ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = var.test_listener_port
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  # Without the test key, nothing: the listener is open to the internet.
  default_action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "Forbidden"
      status_code  = "403"
    }
  }
}

resource "aws_lb_listener_rule" "test_backend" {
  count = var.blue_green ? 1 : 0

  listener_arn = aws_lb_listener.test[0].arn
  priority     = 10

  action {
    type = "forward"

    forward {
      target_group {
        arn    = aws_lb_target_group.this["backend-blue"].arn
        weight = local.test_weights.blue
      }

      target_group {
        arn    = aws_lb_target_group.this["backend-green"].arn
        weight = local.test_weights.green
      }
    }
  }

  condition {
    path_pattern {
      values = local.backend_paths
    }
  }

  condition {
    http_header {
      http_header_name = var.test_listener_header
      values           = [data.aws_secretsmanager_secret_version.test_listener_key[0].secret_string]
    }
  }

  # The deploy engine points the test rules at the idle colour; Terraform only creates them.
  lifecycle {
    ignore_changes = [action]
  }
}

resource "aws_lb_listener_rule" "test_frontend" {
  count = var.blue_green ? 1 : 0

  listener_arn = aws_lb_listener.test[0].arn
  priority     = 20

  action {
    type = "forward"

    forward {
      target_group {
        arn    = aws_lb_target_group.this["frontend-blue"].arn
        weight = local.test_weights.blue
      }

      target_group {
        arn    = aws_lb_target_group.this["frontend-green"].arn
        weight = local.test_weights.green
      }
    }
  }

  condition {
    http_header {
      http_header_name = var.test_listener_header
      values           = [data.aws_secretsmanager_secret_version.test_listener_key[0].secret_string]
    }
  }

  lifecycle {
    ignore_changes = [action]
  }
}
