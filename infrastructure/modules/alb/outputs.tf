output "name" {
  description = "Name of the load balancer."
  value       = aws_lb.this.name
}

output "arn" {
  description = "ARN of the load balancer."
  value       = aws_lb.this.arn
}

output "arn_suffix" {
  description = "The load balancer's CloudWatch dimension."
  value       = aws_lb.this.arn_suffix
}

output "dns_name" {
  description = "Host name to point the environment's DNS record at."
  value       = aws_lb.this.dns_name
}

output "zone_id" {
  description = "Hosted zone of the load balancer, for a Route 53 alias record."
  value       = aws_lb.this.zone_id
}

output "security_group_id" {
  description = "Security group of the load balancer: the services accept traffic from it."
  value       = aws_security_group.alb.id
}

output "target_group_names" {
  description = "Target group name by key (<app> or <app>-<colour>)."
  value       = { for key, tg in aws_lb_target_group.this : key => tg.name }
}

# An ECS service can only attach to a target group that a listener uses, so the ARNs are handed
# out once the listeners exist.
output "target_group_arns" {
  description = "Target group ARN by key (<app> or <app>-<colour>)."
  value       = { for key, tg in aws_lb_target_group.this : key => tg.arn }

  depends_on = [
    aws_lb_listener_rule.backend,
    aws_lb_listener_rule.production_backend,
    aws_lb_listener_rule.test_backend,
    aws_lb_listener_rule.test_frontend,
  ]
}

output "target_group_arn_suffixes" {
  description = "Target group CloudWatch dimension by key."
  value       = { for key, tg in aws_lb_target_group.this : key => tg.arn_suffix }
}

output "listener_ports" {
  description = "Port of the production listener and, for blue/green, of the test listener."
  value = merge(
    { for listener in aws_lb_listener.https : "production" => listener.port },
    { for listener in aws_lb_listener.production : "production" => listener.port },
    { for listener in aws_lb_listener.test : "test" => listener.port },
  )
}

output "deploy_listener_arns" {
  description = "Listeners whose forwards the deploy engine changes (blue/green only): the production listener; the test listener answers 403 and forwards only through its rules."
  value       = aws_lb_listener.production[*].arn
}

output "deploy_rule_arns" {
  description = "Listener rules whose forwards the deploy engine changes (blue/green only)."
  value       = concat(aws_lb_listener_rule.production_backend[*].arn, aws_lb_listener_rule.test_backend[*].arn, aws_lb_listener_rule.test_frontend[*].arn)
}
