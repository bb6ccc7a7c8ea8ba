# The engine's secrets, one Secrets Manager secret per environment variable of the task, named
# "<name>/<VARIABLE>". Terraform holds no secret value: it writes only the database URL, whose
# generated password goes to RDS and into the secret as write-only arguments (never in the plan
# or the state); every other value is put by the operator (README.md).

locals {
  # Environment variable -> what it holds. OMC_… names are engine settings (engine/config.py,
  # prefix OMC_, "__" between section and key); the model keys are read by litellm for the
  # research Lab. tests/deploy/test_deploy.py checks every name against the engine, and that
  # every secret setting of the engine has its entry here.
  secret_settings = {
    OMC_DATABASE__URL       = "postgresql:// URL of the engine's database (written by terraform)"
    OMC_SERVICE__TOKEN      = "Bearer token a desk presents to attach (omc --attach … --token …)"
    OMC_TRADING__API_KEY    = "Venue API key, for live trading"
    OMC_TRADING__API_SECRET = "Venue API secret, for live trading"
    OMC_ALERTS__WEBHOOK_URL = "Slack-compatible incoming webhook for alerts"
    OPENAI_API_KEY          = "OpenAI key for the research Lab (litellm)"
    ANTHROPIC_API_KEY       = "Anthropic key for the research Lab (litellm)"
    # Not in optional_secrets by default: add them there when the feature is used.
    OMC_ALERTS__SMTP_PASSWORD         = "SMTP password for alert mail"
    OMC_SOURCES__REDDIT_CLIENT_SECRET = "Reddit OAuth client secret (Human ledger)"
    OMC_SOURCES__CRYPTOPANIC_TOKEN    = "CryptoPanic API token (Human ledger)"
  }
  required_secrets = ["OMC_DATABASE__URL", "OMC_SERVICE__TOKEN"]
  task_secrets = {
    for name, about in local.secret_settings : name => about
    if contains(local.required_secrets, name) || contains(var.optional_secrets, name)
  }
}

resource "aws_secretsmanager_secret" "engine" {
  #checkov:skip=CKV2_AWS_57:No rotation Lambda: venue and model keys are rotated by their issuers and then put here; the database URL is rotated by bumping db_password_version, which sets a new password on the instance and in this secret together
  for_each = local.task_secrets

  name                    = "${var.name}/${each.key}"
  description             = each.value
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7

  lifecycle {
    precondition {
      condition     = length(setsubtract(var.optional_secrets, keys(local.secret_settings))) == 0
      error_message = "optional_secrets names a variable that is not in local.secret_settings: ${join(", ", setsubtract(var.optional_secrets, keys(local.secret_settings)))}."
    }
  }
}

# A fresh password for each value of db_password_version; ephemeral, so it is never stored.
ephemeral "aws_secretsmanager_random_password" "db" {
  password_length     = 40
  exclude_punctuation = true # the password sits in a URL and RDS refuses / @ " and spaces
}

resource "aws_secretsmanager_secret_version" "database_url" {
  secret_id                = aws_secretsmanager_secret.engine["OMC_DATABASE__URL"].id
  secret_string_wo         = "postgresql://${aws_db_instance.main.username}:${ephemeral.aws_secretsmanager_random_password.db.random_password}@${aws_db_instance.main.address}:${aws_db_instance.main.port}/${aws_db_instance.main.db_name}"
  secret_string_wo_version = var.db_password_version

  lifecycle {
    # A replaced instance has a new address and was created with this run's password.
    replace_triggered_by = [aws_db_instance.main.id]
  }
}
