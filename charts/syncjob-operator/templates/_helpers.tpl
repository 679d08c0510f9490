{{/* Names, labels and RBAC rules shared by the templates. */}}

{{- define "syncjob-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the release name when it already contains the chart name. */}}
{{- define "syncjob-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "syncjob-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "syncjob-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "syncjob-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "syncjob-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "syncjob-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "syncjob-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "syncjob-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
RBAC rules for the namespaces the operator watches: every verb on every
resource is listed (no wildcards), each one because the operator sends it;
tests/integration/test_rbac_audit.py checks both against the API server's
audit log.  Workloads and KafkaConnectors are listed and watched per kind and
namespace (one watch feeds every job that reads them), read by name right
after the operator changed them, and changed by merge patch only.
*/}}
{{- define "syncjob-operator.rules.watched" -}}
# SyncJobs: Kopf lists and watches them and patches its finalizer and
# annotations; the operator reads one back when someone else wrote its status.
- apiGroups: [syncjob.dev]
  resources: [syncjobs]
  verbs: [get, list, watch, patch]
# Status (conditions, phase, deadline), by merge patch.
- apiGroups: [syncjob.dev]
  resources: [syncjobs/status]
  verbs: [patch]
# Events about SyncJobs: Kopf posts core/v1 Events, one new Event each.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
# spec.connect.authSecretRef, spec.source.connectionSecretRef, spec.kafka.configSecretRef.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
# spec.workloads: watch and read the workload (replicas, readiness, the
# saved-replicas label) and patch that label; an apps/v1 workload's
# scale subresource mirrors its own fields, so it is only patched.
- apiGroups: [apps]
  resources: [deployments, statefulsets]
  verbs: [get, list, watch, patch]
- apiGroups: [apps]
  resources: [deployments/scale, statefulsets/scale]
  verbs: [patch]
# spec.kafkaConnectors: Strimzi KafkaConnector spec.state.
- apiGroups: [kafka.strimzi.io]
  resources: [kafkaconnectors]
  verbs: [get, list, watch, patch]
# spec.workloads of kind KafkaConnect (Strimzi): watched as apps above; its
# counts are read from its scale subresource.
- apiGroups: [kafka.strimzi.io]
  resources: [kafkaconnects]
  verbs: [get, list, watch, patch]
- apiGroups: [kafka.strimzi.io]
  resources: [kafkaconnects/scale]
  verbs: [get, patch]
{{- range .Values.rbac.extraScaleResources }}
# rbac.extraScaleResources: as KafkaConnect above, the workload and its /scale.
- apiGroups: [{{ .apiGroup | quote }}]
  resources:
  {{- range .resources }}
  - {{ . | quote }}
  {{- end }}
  verbs: [get, list, watch, patch]
- apiGroups: [{{ .apiGroup | quote }}]
  resources:
  {{- range .resources }}
  - {{ printf "%s/scale" . | quote }}
  {{- end }}
  verbs: [get, patch]
{{- end }}
{{- end }}

{{/* Cluster-scoped reads Kopf needs. */}}
{{- define "syncjob-operator.rules.cluster" -}}
# Kopf scans CRDs to find the resources it serves and its peering resources.
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- if .Values.watchNamespaces }}
# Kopf watches named namespaces come and go (cluster-wide, it does not).
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- end }}
{{- end }}
