variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "ap-southeast-2"
}

variable "name" {
  description = "Prefix of every resource name, and of the Secrets Manager secret names."
  type        = string
  default     = "omc"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name: 2 to 21 characters, lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

# ---- network --------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "CIDR of the VPC; /24 public and private subnets are cut from it in two AZs."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "The two zones of the region the subnets go in; named, so the layout never changes when AWS adds a zone."
  type        = list(string)
  default     = ["ap-southeast-2a", "ap-southeast-2b"]

  validation {
    condition     = length(var.availability_zones) == 2 && alltrue([for z in var.availability_zones : startswith(z, var.region)])
    error_message = "availability_zones: two zones of the chosen region, e.g. [\"ap-southeast-2a\", \"ap-southeast-2b\"]."
  }
}

variable "allowed_cidrs" {
  description = "Networks that may reach the load balancer (ports 443, and 80 to be redirected). No default: name your desks' networks, or [\"0.0.0.0/0\"] deliberately."
  type        = list(string)

  validation {
    condition     = length(var.allowed_cidrs) > 0 && alltrue([for c in var.allowed_cidrs : can(cidrhost(c, 0))])
    error_message = "allowed_cidrs: one or more CIDR blocks such as 203.0.113.0/24."
  }
}

variable "certificate_arn" {
  description = "ACM certificate for the load balancer's HTTPS listener (in this region), covering the host name desks attach to."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn: an ACM certificate ARN."
  }
}

variable "idle_timeout_seconds" {
  description = "Load balancer idle timeout. The engine pings attached desks every 20 s, so an attach stays open; this bounds a connection that went silent."
  type        = number
  default     = 300
}

# ---- the engine -------------------------------------------------------------------------------

variable "image_tag" {
  description = "Tag of the omc-engine image in the ECR repository this configuration creates (tags are immutable)."
  type        = string
}

variable "desired_count" {
  description = "Engine tasks. On PostgreSQL one is the leader and the others stand by to take over."
  type        = number
  default     = 2
}

variable "task_cpu" {
  description = "Fargate task CPU units."
  type        = number
  default     = 1024
}

variable "task_memory" {
  description = "Fargate task memory, MiB."
  type        = number
  default     = 2048
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64: the platform the image was built for (docker build --platform)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture: X86_64 or ARM64."
  }
}

variable "engine_environment" {
  description = "Plain (non-secret) settings for the engine, as OMC_… environment variables, e.g. { OMC_MARKET__VENUE = \"coinspot\" }."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.engine_environment) : startswith(k, "OMC_")])
    error_message = "engine_environment: every name starts with OMC_."
  }
}

variable "optional_secrets" {
  description = "Secrets the task receives besides the database URL and the attach token (see local.secret_settings). Each one listed must have a value in Secrets Manager before a task can start; leave out what you do not use."
  type        = set(string)
  default = [
    "OMC_TRADING__API_KEY",
    "OMC_TRADING__API_SECRET",
    "OMC_ALERTS__WEBHOOK_URL",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
  ]
}

variable "log_retention_days" {
  description = "Retention of the engine's, the database's and the network's CloudWatch logs."
  type        = number
  default     = 365
}

# ---- database -------------------------------------------------------------------------------

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_engine_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "16"
}

variable "db_allocated_storage_gb" {
  description = "Initial storage, GiB; storage autoscaling may grow it to db_max_allocated_storage_gb."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage_gb" {
  description = "Upper bound of storage autoscaling, GiB."
  type        = number
  default     = 200
}

variable "db_backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 14
}

variable "db_password_version" {
  description = "Bump to set a new generated database password on the instance and in the URL secret together (then redeploy the service)."
  type        = number
  default     = 1
}

# ---- alarms ---------------------------------------------------------------------------------

variable "alarm_email" {
  description = "Address subscribed to the alarm topic (confirm the mail AWS sends); empty: subscribe yourself."
  type        = string
  default     = ""
}

variable "alarm_5xx_per_5min" {
  description = "5xx answers (load balancer plus engine) in five minutes that raise the alarm."
  type        = number
  default     = 10
}

variable "db_free_storage_alarm_bytes" {
  description = "Free database storage below which the alarm fires."
  type        = number
  default     = 5368709120
}
