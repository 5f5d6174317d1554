# todo-api on PostgreSQL, installed by the module in ../.. from this repository's chart.
#
#   cd k8s/terraform/examples/postgresql
#   export TF_VAR_secret_key="$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
#   export TF_VAR_database_url='postgresql+asyncpg://todo:PASSWORD@db.internal:5432/todo' # checkov:skip=CKV_SECRET_4: placeholder
#   terraform init && terraform apply -var image_tag=0.1.0
#
# Keep the key stable across applies (a new one logs every client out for a refresh):
# store it in your secret manager and pass it in, as here, rather than generating it here.

terraform {
  required_version = ">= 1.9"

  required_providers {
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.36"
    }
  }
}

variable "kubeconfig" {
  description = "kubeconfig file of the cluster."
  type        = string
  default     = "~/.kube/config"
}

variable "kube_context" {
  description = "Context in the kubeconfig; null: its current context."
  type        = string
  default     = null
}

variable "image_tag" {
  description = "The todo-api image tag to deploy."
  type        = string
  default     = "0.1.0"
}

variable "secret_key" {
  description = "SECRET_KEY, at least 32 characters of your own."
  type        = string
  sensitive   = true
}

variable "database_url" {
  description = "postgresql+asyncpg://USER:PASSWORD@HOST:5432/DB"
  type        = string
  sensitive   = true
}

variable "redis_url" {
  description = "redis://HOST:6379/0, shared rate limits across replicas (optional)."
  type        = string
  default     = null
  sensitive   = true
}

provider "kubernetes" {
  config_path    = pathexpand(var.kubeconfig)
  config_context = var.kube_context
}

provider "helm" {
  kubernetes = {
    config_path    = pathexpand(var.kubeconfig)
    config_context = var.kube_context
  }
}

module "todo_api" {
  source = "../.."

  namespace        = "todo"
  release_name     = "todo-api"
  image_repository = "ghcr.io/example/todo-api"
  image_tag        = var.image_tag

  database_type = "postgresql"
  secret_key    = var.secret_key
  database_url  = var.database_url
  redis_url     = var.redis_url

  autoscaling = {
    min_replicas = 3
    max_replicas = 10
  }
  # The pod network of your ingress controller, whose X-Forwarded-For is believed.
  forwarded_allow_ips = "10.0.0.0/8"
  cors_origins        = ["https://todo.example.com"]

  # Only the ingress controller's and Prometheus's namespaces may reach the pods.
  network_policy_ingress_from = [
    { namespaceSelector = { matchLabels = { "kubernetes.io/metadata.name" = "ingress-nginx" } } },
    { namespaceSelector = { matchLabels = { "kubernetes.io/metadata.name" = "monitoring" } } },
  ]
}

output "service" {
  description = "Where the API listens inside the cluster."
  value       = "http://${module.todo_api.service_name}.${module.todo_api.namespace}.svc:80"
}
