# The engine on ECS Fargate: the image from this configuration's ECR repository, two tasks in
# the private subnets behind the load balancer. On PostgreSQL one task leads (owns the book and
# the scheduler) and the other stands by to take over within [service] failover_seconds.

locals {
  # The engine's defaults (engine/config.py ServiceSettings.listen and the probe it serves);
  # the Dockerfile's CMD and HEALTHCHECK use the same, and tests/deploy checks all of them.
  engine_port = 8765
  health_path = "/healthz"

  engine_container = {
    name      = "engine"
    image     = "${aws_ecr_repository.engine.repository_url}:${var.image_tag}"
    essential = true
    # The image's own CMD: omc-engine --listen 0.0.0.0:8765.
    portMappings = [
      {
        name          = "engine"
        containerPort = local.engine_port
        protocol      = "tcp"
        appProtocol   = "http"
      },
    ]
    environment = [for name, value in var.engine_environment : { name = name, value = value }]
    secrets     = [for name, secret in aws_secretsmanager_secret.engine : { name = name, valueFrom = secret.arn }]

    # Writable: the data directory (XDG_DATA_HOME=/data in the image) and /tmp; nothing else.
    readonlyRootFilesystem = true
    privileged             = false
    mountPoints = [
      { sourceVolume = "data", containerPath = "/data", readOnly = false },
      { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
    ]

    # ECS ignores the image's HEALTHCHECK, so it is repeated here.
    healthCheck = {
      command = [
        "CMD",
        "python",
        "-c",
        "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${local.engine_port}${local.health_path}', timeout=4)",
      ]
      interval    = 30
      timeout     = 5
      retries     = 3
      startPeriod = 60
    }

    # SIGTERM first: the engine checkpoints and releases its lease; SIGKILL only after this.
    stopTimeout = 60

    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.engine.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "engine"
      }
    }
  }
}

resource "aws_ecr_repository" "engine" {
  name                 = "${var.name}-engine"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }
}

resource "aws_ecr_lifecycle_policy" "engine" {
  repository = aws_ecr_repository.engine.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Keep the 30 newest images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = 30
        }
        action = { type = "expire" }
      },
    ]
  })
}

resource "aws_cloudwatch_log_group" "engine" {
  name              = "/ecs/${var.name}/engine"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_ecs_cluster" "main" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_task_definition" "engine" {
  family                   = "${var.name}-engine"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  # Bind mounts on the task's ephemeral storage; the image's VOLUME gives /data its owner.
  volume {
    name = "data"
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([local.engine_container])
}

resource "aws_ecs_service" "engine" {
  name                    = "engine"
  cluster                 = aws_ecs_cluster.main.id
  task_definition         = aws_ecs_task_definition.engine.arn
  desired_count           = var.desired_count
  launch_type             = "FARGATE"
  platform_version        = "LATEST"
  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true
  enable_execute_command  = false

  # A new task joins as a standby before an old one stops, so a deployment never leaves the
  # database without an engine ready to lead.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 120

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.task.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.engine.arn
    container_name   = local.engine_container.name
    container_port   = local.engine_port
  }

  depends_on = [aws_lb_listener.https, aws_iam_role_policy.execution]
}

# ---- IAM ------------------------------------------------------------------------------------
# The execution role is what ECS uses to start a task: pull the image, write its log stream,
# read its secrets. The task role is what the engine itself may do in AWS: nothing, because it
# calls no AWS API; it exists so that whatever is added later is granted there explicitly.

data "aws_iam_policy_document" "ecs_tasks_assume" {
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
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:*"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-engine-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid = "PullTheEngineImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [aws_ecr_repository.engine.arn]
  }

  statement {
    sid       = "LogInToTheRegistry" # an account-wide call that takes no resource
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "WriteTheEngineLog"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.engine.arn}:*"]
  }

  statement {
    sid       = "ReadTheEngineSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [for secret in aws_secretsmanager_secret.engine : secret.arn]
  }

  statement {
    sid       = "DecryptTheEngineSecrets"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "start-engine-task"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-engine-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}
