# todo-api on Kubernetes: the namespace, the Secret, and the Helm chart k8s/chart/todo-api.
# The providers (helm, kubernetes) are configured by the caller: see examples/postgresql.

locals {
  sqlite      = var.database_type == "sqlite"
  secret_name = coalesce(var.existing_secret_name, "${var.release_name}-secret")
  namespace   = var.create_namespace ? kubernetes_namespace_v1.this[0].metadata[0].name : var.namespace

  autoscaling_enabled = coalesce(var.autoscaling.enabled, !local.sqlite)
  pdb_enabled         = coalesce(var.pod_disruption_budget.enabled, !local.sqlite)

  # The Secret's content, hashed into a pod annotation: a new key or URL rolls the pods
  # (Kubernetes does not restart them when a Secret they read as env changes).
  secret_data = var.existing_secret_name != null ? {} : merge(
    { SECRET_KEY = var.secret_key },
    local.sqlite ? {} : { DATABASE_URL = var.database_url },
    var.redis_url == null ? {} : { REDIS_URL = var.redis_url },
  )
  # A hash only, safe to show in plans: the values stay sensitive.
  secret_checksum = nonsensitive(sha256(jsonencode(local.secret_data)))

  values = {
    image = merge(
      { repository = var.image_repository },
      var.image_tag == null ? {} : { tag = var.image_tag },
      var.image_digest == null ? {} : { digest = var.image_digest },
    )
    database = {
      type = var.database_type
      sqlite = {
        persistence = merge(
          { size = var.sqlite_volume_size },
          var.sqlite_storage_class == null ? {} : { storageClass = var.sqlite_storage_class },
        )
      }
    }
    existingSecret    = local.secret_name
    migration         = { enabled = var.run_migrations }
    replicaCount      = coalesce(var.replica_count, local.sqlite ? 1 : 3)
    forwardedAllowIps = var.forwarded_allow_ips
    config            = merge(var.settings, { CORS_ORIGINS = join(",", var.cors_origins) })
    resources         = var.resources
    autoscaling = {
      enabled                        = local.autoscaling_enabled
      minReplicas                    = var.autoscaling.min_replicas
      maxReplicas                    = var.autoscaling.max_replicas
      targetCPUUtilizationPercentage = var.autoscaling.target_cpu_utilization
    }
    podDisruptionBudget = {
      enabled      = local.pdb_enabled
      minAvailable = var.pod_disruption_budget.min_available
    }
    networkPolicy = {
      ingressFrom = var.network_policy_ingress_from
    }
    serviceMonitor = {
      enabled = var.service_monitor.enabled
      labels  = var.service_monitor.labels
    }
    podAnnotations = var.existing_secret_name != null ? {} : {
      "checksum/secret" = local.secret_checksum
    }
  }
}

resource "kubernetes_namespace_v1" "this" {
  count = var.create_namespace ? 1 : 0

  metadata {
    name = var.namespace
    labels = {
      "app.kubernetes.io/part-of"    = "todo-api"
      "app.kubernetes.io/managed-by" = "terraform"
    }
  }
}

resource "kubernetes_secret_v1" "this" {
  count = var.existing_secret_name == null ? 1 : 0

  metadata {
    name      = local.secret_name
    namespace = local.namespace
    labels = {
      "app.kubernetes.io/name"       = "todo-api"
      "app.kubernetes.io/instance"   = var.release_name
      "app.kubernetes.io/part-of"    = "todo-api"
      "app.kubernetes.io/managed-by" = "terraform"
    }
  }

  type = "Opaque"
  data = local.secret_data
}

resource "helm_release" "this" {
  name      = var.release_name
  namespace = local.namespace
  chart     = coalesce(var.chart_path, "${path.module}/../chart/todo-api")

  values = concat([yamlencode(local.values)], var.extra_values)

  # Wait for the migration hook and for every pod of the rollout to be ready.
  wait             = true
  wait_for_jobs    = true
  timeout          = var.timeout_seconds
  atomic           = var.atomic
  cleanup_on_fail  = true
  max_history      = 10
  create_namespace = false

  # The Secret must exist before the hook Job reads it.
  depends_on = [kubernetes_secret_v1.this]
}
