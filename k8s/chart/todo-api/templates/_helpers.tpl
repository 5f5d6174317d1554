{{/* The chart's name, or nameOverride. */}}
{{- define "todo-api.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of every object: fullnameOverride, else the release name when it contains the
chart's name ("todo-api", "todo-api-blue"), else "<release>-todo-api". Two releases in
one namespace (blue-green) therefore never share an object.
*/}}
{{- define "todo-api.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "todo-api.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable for the life of a release (a selector is immutable). */}}
{{- define "todo-api.selectorLabels" -}}
app.kubernetes.io/name: {{ include "todo-api.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "todo-api.labels" -}}
helm.sh/chart: {{ include "todo-api.chart" . }}
{{ include "todo-api.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/part-of: todo-api
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "todo-api.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{- define "todo-api.sqlite" -}}
{{- if eq .Values.database.type "sqlite" }}true{{ end }}
{{- end }}

{{/*
Refuse what cannot work, with the reason. SQLite allows one writer and its volume is
ReadWriteOnce: two pods on one file corrupt it or lock each other out.
*/}}
{{- define "todo-api.validate" -}}
{{- if include "todo-api.sqlite" . }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail (printf "database.type=sqlite allows one replica only, got replicaCount=%v: SQLite has one writer and a ReadWriteOnce volume; use database.type=postgresql to scale out" .Values.replicaCount) }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- fail "database.type=sqlite cannot autoscale: set autoscaling.enabled=false (SQLite has one writer; use database.type=postgresql to scale out)" }}
{{- end }}
{{- if .Values.podDisruptionBudget.enabled }}
{{- fail "database.type=sqlite: set podDisruptionBudget.enabled=false (a budget on the single pod would block every node drain)" }}
{{- end }}
{{- end }}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) }}
{{- fail (printf "autoscaling.maxReplicas (%v) is below autoscaling.minReplicas (%v)" .Values.autoscaling.maxReplicas .Values.autoscaling.minReplicas) }}
{{- end }}
{{- end }}

{{/* The ConfigMap's data: the operator's settings plus what database.type decides. */}}
{{- define "todo-api.configData" -}}
{{- $data := dict }}
{{- range $key, $value := .Values.config }}
{{- $_ := set $data $key (toString $value) }}
{{- end }}
{{- if include "todo-api.sqlite" . }}
{{- $_ := set $data "DATABASE_URL" "sqlite+aiosqlite:////data/todo.db" }}
{{- $_ := set $data "AUTO_MIGRATE" "true" }}
{{- else }}
{{- $_ := set $data "AUTO_MIGRATE" "false" }}
{{- end }}
{{- toYaml $data }}
{{- end }}

{{/*
The environment from the Secret and the proxy setting, shared by the Deployment and the
migration Job. DATABASE_URL comes from the Secret on PostgreSQL (from the ConfigMap on
SQLite).
*/}}
{{- define "todo-api.secretEnv" -}}
- name: SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.existingSecret }}
      key: SECRET_KEY
{{- if not (include "todo-api.sqlite" .) }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.existingSecret }}
      key: DATABASE_URL
{{- end }}
{{- end }}
