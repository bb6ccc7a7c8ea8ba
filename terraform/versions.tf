terraform {
  # 1.11: write-only arguments, which keep the database password out of plan and state.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Partial configuration: the bucket, key, region and lock come from a file at init, e.g.
  #   terraform init -backend-config=backend.hcl
  # with bucket = "…", key = "omc/terraform.tfstate", region = "…", encrypt = true and
  # use_lockfile = true (see README.md).
  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      Project   = "oh-my-coins"
      Component = var.name
      ManagedBy = "terraform"
    })
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}
