{{/*
Naming and labels. Everything is namespaced by the chart name ("aggregator.*") so the chart can
be vendored as a subchart without template-name collisions.
*/}}

{{/* Chart name, overridable. */}}
{{- define "aggregator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, truncated at 63 characters (DNS label limit). If the release name
already contains the chart name it is used as is ("aggregator" -> "aggregator", not
"aggregator-aggregator").
*/}}
{{- define "aggregator.fullname" -}}
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

{{/* name-version for the helm.sh/chart label. */}}
{{- define "aggregator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels. Call with (dict "ctx" $ "component" "aggregator").
Selectors use only name + instance + component (aggregator.selectorLabels): selectors are
immutable, so a label whose value changes on upgrade (version, chart) must never be in one.
*/}}
{{- define "aggregator.labels" -}}
helm.sh/chart: {{ include "aggregator.chart" .ctx }}
{{ include "aggregator.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: {{ .ctx.Values.partOf }}
{{- end }}

{{/* Selector labels. Call with (dict "ctx" $ "component" "aggregator"). */}}
{{- define "aggregator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aggregator.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels every pod of the release carries; the default-deny NetworkPolicy selects on these. */}}
{{- define "aggregator.releaseSelectorLabels" -}}
app.kubernetes.io/name: {{ include "aggregator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Label key that marks a pod as an allowed client of the aggregator (NetworkPolicy). */}}
{{- define "aggregator.clientLabel" -}}
{{- printf "%s-client" (include "aggregator.fullname" .) }}
{{- end }}

{{- define "aggregator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "aggregator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference. Call with (dict "image" .Values.image "ctx" $). An empty tag falls back to the
chart's appVersion; a digest, when given, pins the image and wins over the tag.
*/}}
{{- define "aggregator.image" -}}
{{- $tag := default .ctx.Chart.AppVersion .image.tag }}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{/* PostgreSQL object names (StatefulSet, headless Service, Secret). */}}
{{- define "aggregator.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "aggregator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Secret that holds the bundled PostgreSQL's `password` and the aggregator's `database-url`. */}}
{{- define "aggregator.postgresql.secretName" -}}
{{- default (include "aggregator.postgresql.fullname" .) .Values.postgresql.auth.existingSecret }}
{{- end }}

{{/*
Where the aggregator's DATABASE_URL comes from: database.existingSecret wins (external or custom
database); otherwise the bundled PostgreSQL's Secret. Rendering fails early when neither exists.
*/}}
{{- define "aggregator.databaseSecretName" -}}
{{- if .Values.database.existingSecret }}
{{- .Values.database.existingSecret }}
{{- else if .Values.postgresql.enabled }}
{{- include "aggregator.postgresql.secretName" . }}
{{- else }}
{{- fail "postgresql.enabled=false requires database.existingSecret (a Secret with the DATABASE_URL)" }}
{{- end }}
{{- end }}

{{- define "aggregator.databaseSecretKey" -}}
{{- if .Values.database.existingSecret }}
{{- .Values.database.existingSecretKey }}
{{- else }}
{{- "database-url" }}
{{- end }}
{{- end }}

{{/* In-cluster base URL of the aggregator Service, used by the Jobs and the helm test. */}}
{{- define "aggregator.url" -}}
{{- printf "http://%s:%d" (include "aggregator.fullname" .) (int .Values.service.port) }}
{{- end }}

{{/*
securityContexts of a client pod (publisher, k6, test) that runs as another image user.
Call with (dict "ctx" $ "uid" 1993); the chart's hardened defaults stay, only the ids change.
*/}}
{{- define "aggregator.clientPodSecurityContext" -}}
{{- $sc := deepCopy .ctx.Values.podSecurityContext }}
{{- toYaml (mergeOverwrite $sc (dict "runAsUser" .uid "runAsGroup" .uid "fsGroup" .uid)) }}
{{- end }}

{{- define "aggregator.clientSecurityContext" -}}
{{- $sc := deepCopy .ctx.Values.securityContext }}
{{- toYaml (mergeOverwrite $sc (dict "runAsUser" .uid "runAsGroup" .uid)) }}
{{- end }}

{{/* Labels of a client pod: its component's labels plus the NetworkPolicy client marker. */}}
{{- define "aggregator.clientPodLabels" -}}
{{ include "aggregator.labels" . }}
{{ include "aggregator.clientLabel" .ctx }}: "true"
{{- end }}
