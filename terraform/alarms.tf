# Alarms to one encrypted SNS topic: no healthy task, unhealthy tasks, no leader, 5xx answers,
# ECS CPU and memory, database free storage. Each alarm also says when it is OK again.

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = aws_kms_key.main.id
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == "" ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  alarm_actions = [aws_sns_topic.alarms.arn]
  target_group_dimensions = {
    LoadBalancer = aws_lb.main.arn_suffix
    TargetGroup  = aws_lb_target_group.engine.arn_suffix
  }
  service_dimensions = {
    ClusterName = aws_ecs_cluster.main.name
    ServiceName = aws_ecs_service.engine.name
  }
}

# ---- the load balancer's view of the tasks -------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "no_healthy_task" {
  alarm_name          = "${var.name}-no-healthy-engine"
  alarm_description   = "No engine task answers ${local.health_path}: desks cannot attach and nothing trades."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HealthyHostCount"
  dimensions          = local.target_group_dimensions
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_tasks" {
  alarm_name          = "${var.name}-unhealthy-engine"
  alarm_description   = "An engine task has failed its ${local.health_path} check for five minutes (longer than a deployment's swap)."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = local.target_group_dimensions
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "http_5xx" {
  alarm_name          = "${var.name}-5xx"
  alarm_description   = "5xx answers from the load balancer or the engine passed ${var.alarm_5xx_per_5min} in five minutes."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_5xx_per_5min
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "total"
    expression  = "FILL(elb, 0) + FILL(target, 0)"
    label       = "5xx answers"
    return_data = true
  }

  metric_query {
    id = "elb"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      dimensions  = { LoadBalancer = aws_lb.main.arn_suffix }
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "target"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = local.target_group_dimensions
      stat        = "Sum"
      period      = 300
    }
  }
}

# ---- leadership ---------------------------------------------------------------------------------
# Only the leader runs the scheduler, and its store.flush job finishes every second (more jobs
# every few seconds); each finished run is a JSON line {"msg": "job", "event": {"status": …}} on
# stdout. So finished runs counted across the service are the leader's heartbeat: none for five
# minutes means no engine owns the database, or the one that does has stopped working. Standbys
# log no job lines. tests/deploy checks this pattern against the engine's real log lines.

resource "aws_cloudwatch_log_metric_filter" "leader_job_runs" {
  name           = "${var.name}-leader-job-runs"
  log_group_name = aws_cloudwatch_log_group.engine.name
  pattern        = "{ ($.msg = \"job\") && (($.event.status = \"ok\") || ($.event.status = \"error\") || ($.event.status = \"skipped\")) }"

  metric_transformation {
    namespace = "OMC/${var.name}"
    name      = "LeaderJobRuns"
    value     = "1"
    unit      = "Count"
  }
}

resource "aws_cloudwatch_metric_alarm" "no_leader" {
  alarm_name          = "${var.name}-no-leader"
  alarm_description   = "No engine finished a scheduled job for five minutes: no leader owns the database (or it is stuck). Standbys take over within failover_seconds, so this is not a failover."
  namespace           = aws_cloudwatch_log_metric_filter.leader_job_runs.metric_transformation[0].namespace
  metric_name         = aws_cloudwatch_log_metric_filter.leader_job_runs.metric_transformation[0].name
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 5
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# ---- the tasks' and the database's resources ------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "ecs_cpu" {
  alarm_name          = "${var.name}-engine-cpu"
  alarm_description   = "Engine CPU above 80% for 15 minutes: polls and jobs will fall behind."
  namespace           = "AWS/ECS"
  metric_name         = "CPUUtilization"
  dimensions          = local.service_dimensions
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 80
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "ecs_memory" {
  alarm_name          = "${var.name}-engine-memory"
  alarm_description   = "Engine memory above 85% for 15 minutes: the task is near being killed for memory."
  namespace           = "AWS/ECS"
  metric_name         = "MemoryUtilization"
  dimensions          = local.service_dimensions
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 85
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "db_free_storage" {
  alarm_name          = "${var.name}-db-free-storage"
  alarm_description   = "Database free storage below ${floor(var.db_free_storage_alarm_bytes / 1073741824)} GiB (autoscaling stops at ${var.db_max_allocated_storage_gb} GiB)."
  namespace           = "AWS/RDS"
  metric_name         = "FreeStorageSpace"
  dimensions          = { DBInstanceIdentifier = aws_db_instance.main.identifier }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = var.db_free_storage_alarm_bytes
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
