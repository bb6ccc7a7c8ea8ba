output "load_balancer_dns_name" {
  description = "Point the certificate's host name here (CNAME, or a Route 53 alias with load_balancer_zone_id); desks attach to wss://THAT-HOST-NAME."
  value       = aws_lb.main.dns_name
}

output "load_balancer_zone_id" {
  description = "Hosted zone of the load balancer, for a Route 53 alias record."
  value       = aws_lb.main.zone_id
}

output "ecr_repository_url" {
  description = "Push the omc-engine image here, tagged with image_tag."
  value       = aws_ecr_repository.engine.repository_url
}

output "secret_ids" {
  description = "Secrets Manager secret for each environment variable of the task; all but OMC_DATABASE__URL need a value from you."
  value       = { for name, secret in aws_secretsmanager_secret.engine : name => secret.name }
}

output "ecs_cluster" {
  description = "ECS cluster name."
  value       = aws_ecs_cluster.main.name
}

output "ecs_service" {
  description = "ECS service name."
  value       = aws_ecs_service.engine.name
}

output "log_group" {
  description = "CloudWatch log group of the engine's JSON log lines."
  value       = aws_cloudwatch_log_group.engine.name
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms publish to; subscribe on-call here."
  value       = aws_sns_topic.alarms.arn
}

output "database_endpoint" {
  description = "RDS endpoint (private; reachable from the tasks only)."
  value       = aws_db_instance.main.endpoint
}
