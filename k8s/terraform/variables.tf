# --- where -------------------------------------------------------------------

variable "namespace" {
  description = "Namespace of the release (created unless create_namespace is false)."
  type        = string
  default     = "todo"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a DNS label: lower-case letters, digits and '-', at most 63 characters."
  }
}

variable "create_namespace" {
  description = "Create the namespace (false: it exists already)."
  type        = bool
  default     = true
}

variable "release_name" {
  description = "Helm release name. Objects are named after it; a second release (todo-api-green) in the same namespace is a blue-green deployment."
  type        = string
  default     = "todo-api"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$", var.release_name))
    error_message = "release_name must be a DNS label of at most 53 characters (Helm's limit)."
  }
}

variable "chart_path" {
  description = "The chart: a local path (default: this repository's k8s/chart/todo-api) or a packaged chart's URL."
  type        = string
  default     = null
}

# --- what --------------------------------------------------------------------

variable "image_repository" {
  description = "Image repository, without tag or digest."
  type        = string
  default     = "ghcr.io/example/todo-api"

  validation {
    condition     = length(var.image_repository) > 0 && !can(regex("[@]|:[^/]*$", var.image_repository))
    error_message = "image_repository takes no tag or digest: set image_tag or image_digest."
  }
}

variable "image_tag" {
  description = "Image tag; null: the chart's appVersion. Ignored when image_digest is set."
  type        = string
  default     = null

  validation {
    condition     = var.image_tag == null || can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid image tag."
  }
}

variable "image_digest" {
  description = "sha256:... of the image; pins it by content (recommended in production)."
  type        = string
  default     = null

  validation {
    condition     = var.image_digest == null || can(regex("^sha256:[a-f0-9]{64}$", var.image_digest))
    error_message = "image_digest must look like sha256:<64 hex digits>."
  }
}

# --- database ----------------------------------------------------------------

variable "database_type" {
  description = "postgresql (scaled out, migration hook Job) or sqlite (one replica on a volume)."
  type        = string
  default     = "postgresql"

  validation {
    condition     = contains(["postgresql", "sqlite"], var.database_type)
    error_message = "database_type must be \"postgresql\" or \"sqlite\"."
  }
}

variable "sqlite_volume_size" {
  description = "Size of the SQLite volume (database_type = sqlite)."
  type        = string
  default     = "1Gi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi|Ti)$", var.sqlite_volume_size))
    error_message = "sqlite_volume_size must be a quantity in Mi, Gi or Ti, such as 1Gi."
  }
}

variable "sqlite_storage_class" {
  description = "StorageClass of the SQLite volume; null: the cluster's default."
  type        = string
  default     = null
}

variable "run_migrations" {
  description = "Run the migration hook Job (PostgreSQL) before the pods roll. Set it to false to roll back to an image older than the database's schema: that image's \"alembic upgrade head\" does not know the newer revision and would fail (docs/operations.md, \"Roll back\")."
  type        = bool
  default     = true
}

# --- the Secret --------------------------------------------------------------

variable "existing_secret_name" {
  description = "Use this Secret (SECRET_KEY, DATABASE_URL, optional REDIS_URL) instead of creating one; secret_key, database_url and redis_url are then ignored."
  type        = string
  default     = null
}

variable "secret_key" {
  description = "SECRET_KEY: signs the access tokens. At least 32 characters, your own (python3 -c 'import secrets; print(secrets.token_urlsafe(48))')."
  type        = string
  default     = null
  sensitive   = true

  validation {
    # HCL evaluates both sides of || and &&: no function may fail on a null here.
    condition     = var.existing_secret_name != null || length(var.secret_key == null ? "" : var.secret_key) >= 32
    error_message = "secret_key must be set, with at least 32 characters (or give existing_secret_name)."
  }
}

variable "database_url" {
  description = "DATABASE_URL for PostgreSQL: postgresql+asyncpg://USER:PASSWORD@HOST:5432/DB." # checkov:skip=CKV_SECRET_4: placeholders
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition = (
      var.existing_secret_name != null || var.database_type != "postgresql" ||
      can(regex("^postgresql\\+asyncpg://", coalesce(var.database_url, "-")))
    )
    error_message = "database_url must be set to a postgresql+asyncpg:// URL when database_type is postgresql (or give existing_secret_name)."
  }
}

variable "redis_url" {
  description = "REDIS_URL (optional): rate-limit counters shared by all replicas. Set it whenever more than one replica serves."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.redis_url == null || can(regex("^rediss?://", coalesce(var.redis_url, "-")))
    error_message = "redis_url must start with redis:// or rediss://."
  }
}

# --- scale and rollout ---------------------------------------------------------

variable "replica_count" {
  description = "Replicas when autoscaling is off; null: 3 on PostgreSQL, 1 on SQLite (which allows no other number)."
  type        = number
  default     = null

  validation {
    condition     = var.replica_count == null || (coalesce(var.replica_count, 1) >= 1 && floor(coalesce(var.replica_count, 1)) == var.replica_count)
    error_message = "replica_count must be a whole number, at least 1."
  }
  validation {
    condition     = var.database_type != "sqlite" || var.replica_count == null || var.replica_count == 1
    error_message = "SQLite allows one replica only (one writer, a ReadWriteOnce volume): leave replica_count unset or 1, or use database_type = \"postgresql\" to scale out."
  }
}

variable "autoscaling" {
  description = "HorizontalPodAutoscaler on CPU. enabled: null means on for PostgreSQL, off for SQLite (which cannot have it)."
  type = object({
    enabled                = optional(bool)
    min_replicas           = optional(number, 3)
    max_replicas           = optional(number, 10)
    target_cpu_utilization = optional(number, 70)
  })
  default = {}

  validation {
    condition     = var.autoscaling.min_replicas >= 1 && var.autoscaling.max_replicas >= var.autoscaling.min_replicas
    error_message = "autoscaling needs 1 <= min_replicas <= max_replicas."
  }
  validation {
    condition     = var.autoscaling.target_cpu_utilization >= 1 && var.autoscaling.target_cpu_utilization <= 100
    error_message = "autoscaling.target_cpu_utilization is a percentage, 1 to 100."
  }
  validation {
    condition     = var.database_type != "sqlite" || var.autoscaling.enabled != true
    error_message = "SQLite cannot autoscale (one writer): leave autoscaling.enabled unset or false."
  }
}

variable "pod_disruption_budget" {
  description = "PodDisruptionBudget. enabled: null means on for PostgreSQL, off for SQLite (a budget on its single pod would block every node drain)."
  type = object({
    enabled       = optional(bool)
    min_available = optional(number, 2)
  })
  default = {}

  validation {
    condition     = var.pod_disruption_budget.min_available >= 1
    error_message = "pod_disruption_budget.min_available must be at least 1."
  }
  validation {
    condition     = var.database_type != "sqlite" || var.pod_disruption_budget.enabled != true
    error_message = "SQLite: a PodDisruptionBudget on the single pod would block every node drain; leave pod_disruption_budget.enabled unset or false."
  }
}

variable "resources" {
  description = "The API container's requests and limits."
  type = object({
    requests = object({ cpu = string, memory = string })
    limits   = object({ cpu = string, memory = string })
  })
  default = {
    requests = { cpu = "100m", memory = "192Mi" }
    limits   = { cpu = "1", memory = "512Mi" }
  }
}

# --- network and settings ------------------------------------------------------

variable "forwarded_allow_ips" {
  description = "FORWARDED_ALLOW_IPS: the proxies whose X-Forwarded-For is believed (your ingress controller's pod CIDR). Never \"*\"."
  type        = string
  default     = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"

  validation {
    condition     = length(var.forwarded_allow_ips) > 0 && !contains([for s in split(",", var.forwarded_allow_ips) : trimspace(s)], "*")
    error_message = "forwarded_allow_ips must list the proxies' addresses or networks; \"*\" lets any client choose its address."
  }
}

variable "cors_origins" {
  description = "Browser origins allowed to call the API (CORS_ORIGINS)."
  type        = list(string)
  default     = ["https://todo.example.com"]

  validation {
    condition     = alltrue([for o in var.cors_origins : can(regex("^https?://[^/]+$", o))])
    error_message = "cors_origins are origins: scheme://host[:port], no path."
  }
}

variable "settings" {
  description = "Other non-secret settings (environment variables, see shared/API.md), merged over the chart's config."
  type        = map(string)
  default     = {}

  validation {
    condition     = length(setintersection(keys(var.settings), ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "AUTO_MIGRATE", "FORWARDED_ALLOW_IPS", "CORS_ORIGINS"])) == 0
    error_message = "settings must not hold SECRET_KEY, DATABASE_URL, REDIS_URL (the Secret), AUTO_MIGRATE (set by database_type), FORWARDED_ALLOW_IPS or CORS_ORIGINS (their own variables)."
  }
}

variable "network_policy_ingress_from" {
  description = "NetworkPolicy peers allowed to reach port 8000 (empty: any pod), e.g. the ingress controller's namespace."
  type        = list(any)
  default     = []
}

variable "service_monitor" {
  description = "Create a Prometheus Operator ServiceMonitor (its CRD must exist)."
  type = object({
    enabled = optional(bool, false)
    labels  = optional(map(string), {})
  })
  default = {}
}

variable "extra_values" {
  description = "More chart values (YAML documents), applied after the module's own."
  type        = list(string)
  default     = []
}

# --- Helm ----------------------------------------------------------------------

variable "timeout_seconds" {
  description = "How long Helm waits for the migration hook and the rollout."
  type        = number
  default     = 600

  validation {
    condition     = var.timeout_seconds >= 60
    error_message = "timeout_seconds must be at least 60."
  }
}

variable "atomic" {
  description = "Roll the release back by itself when the upgrade fails (code only: see docs/operations.md on migrations)."
  type        = bool
  default     = true
}
