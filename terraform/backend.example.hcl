# terraform init -backend-config=backend.hcl (a copy of this file with your bucket).
bucket       = "my-terraform-state-bucket"
key          = "omc/terraform.tfstate"
region       = "ap-southeast-2"
encrypt      = true
use_lockfile = true
