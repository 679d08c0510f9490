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
resource is listed (no wildcards), each one because the operator uses it.
*/}}
{{- define "syncjob-operator.rules.watched" -}}
# SyncJobs: Kopf watches them and patches finalizers and its annotations.
- apiGroups: [syncjob.dev]
  resources: [syncjobs]
  verbs: [get, list, watch, patch, update]
# Status: conditions, phase, deadline.
- apiGroups: [syncjob.dev]
  resources: [syncjobs/status]
  verbs: [get, patch, update]
# Events about SyncJobs (Kopf posts core/v1 Events).
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
# spec.connect.authSecretRef, spec.source.connectionSecretRef, spec.kafka.configSecretRef.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
# spec.workloads: read the workload, scale it through its scale subresource.
- apiGroups: [apps]
  resources: [deployments, statefulsets]
  verbs: [get, list, watch, patch]
- apiGroups: [apps]
  resources: [deployments/scale, statefulsets/scale]
  verbs: [get, patch, update]
# spec.kafkaConnectors: Strimzi KafkaConnector spec.state.
- apiGroups: [kafka.strimzi.io]
  resources: [kafkaconnectors]
  verbs: [get, list, watch, patch]
# spec.workloads of kind KafkaConnect (Strimzi), scaled through /scale.
- apiGroups: [kafka.strimzi.io]
  resources: [kafkaconnects, kafkaconnects/scale]
  verbs: [get, patch]
{{- range .Values.rbac.extraScaleResources }}
# rbac.extraScaleResources
- apiGroups: [{{ .apiGroup | quote }}]
  resources:
  {{- range .resources }}
  - {{ printf "%s/scale" . | quote }}
  {{- end }}
  verbs: [get, patch]
{{- end }}
{{- end }}

{{/* Cluster-scoped reads Kopf needs in either mode. */}}
{{- define "syncjob-operator.rules.cluster" -}}
# Kopf resolves the watched namespaces (all, or the --namespace list).
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
# Kopf scans CRDs to find the resources it serves and its peering resources.
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [get, list, watch]
{{- end }}
