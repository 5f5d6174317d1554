output "namespace" {
  description = "The namespace of the release."
  value       = local.namespace
}

output "release_name" {
  description = "The Helm release."
  value       = helm_release.this.name
}

output "service_name" {
  description = "The Service in front of the pods (port 80): the release name, plus \"-todo-api\" unless it contains \"todo-api\" already."
  value       = strcontains(var.release_name, "todo-api") ? var.release_name : "${var.release_name}-todo-api"
}

output "secret_name" {
  description = "The Secret the pods read SECRET_KEY, DATABASE_URL and REDIS_URL from."
  value       = local.secret_name
}

output "values" {
  description = "The chart values the module computed (without the secret values, which live in the Secret)."
  value       = local.values
}
