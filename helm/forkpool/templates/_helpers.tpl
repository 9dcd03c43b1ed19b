{{/* The chart name, or nameOverride. */}}
{{- define "forkpool.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every resource name: fullnameOverride, else the release name (plus the chart name unless it holds it). */}}
{{- define "forkpool.fullname" -}}
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

{{/* chart-version, for the helm.sh/chart label. */}}
{{- define "forkpool.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels that select the operator pods; never change them (a Deployment's selector is immutable). */}}
{{- define "forkpool.selectorLabels" -}}
app.kubernetes.io/name: {{ include "forkpool.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The labels on every resource of the release. */}}
{{- define "forkpool.labels" -}}
helm.sh/chart: {{ include "forkpool.chart" . }}
{{ include "forkpool.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: forkpool
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The operator's ServiceAccount name. */}}
{{- define "forkpool.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "forkpool.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator image reference; the tag defaults to the chart's appVersion. */}}
{{- define "forkpool.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* "true" when the operator elects a leader: asked for, or needed by more than one replica. */}}
{{- define "forkpool.leaderElection" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicas) 1) }}true{{ else }}false{{ end }}
{{- end }}

{{/* The Lease's name. */}}
{{- define "forkpool.leaseName" -}}
{{- default (include "forkpool.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* Where the example pool and the Redis URL Secret go: the watched namespace, else the release's. */}}
{{- define "forkpool.poolNamespace" -}}
{{- default .Release.Namespace .Values.watchNamespace }}
{{- end }}

{{/* The Redis URL Secret's name. */}}
{{- define "forkpool.redisSecretName" -}}
{{- default (printf "%s-redis" (include "forkpool.fullname" .)) .Values.redisSecret.name }}
{{- end }}

{{/*
The rules for JobPools and what they own, in the namespaces the operator watches: exactly the API
calls of operator/src/kube.ts (test/helm/rbac.test.ts fails on any difference).
*/}}
{{- define "forkpool.poolRules" -}}
- apiGroups: [forkpool.io]
  resources: [jobpools]
  verbs: [list, watch]
- apiGroups: [forkpool.io]
  resources: [jobpools/status]
  verbs: [patch]
# The Deployment's owner reference sets blockOwnerDeletion, which the OwnerReferencesPermissionEnforcement
# admission plugin (on in OpenShift) allows only to who may update the owner's finalizers.
- apiGroups: [forkpool.io]
  resources: [jobpools/finalizers]
  verbs: [update]
# Server-side apply (a patch) creates a pool's Deployment when it does not exist yet, and the API
# server authorizes an apply that creates as create too.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [list, watch, patch, create]
# patch: the pod-deletion-cost annotation set before a scale-down.
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- if .Values.rbac.readSecrets }}
# Only for spec.redis.urlFrom.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end }}
{{- end }}

{{/* The leader-election rules, in the release namespace. A create cannot be limited to a name. */}}
{{- define "forkpool.leaseRules" -}}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [create]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  resourceNames: [{{ include "forkpool.leaseName" . | quote }}]
  verbs: [get, update]
{{- end }}

{{/* The dashboard's own name label, so that neither the operator's selector nor its Service picks its pods. */}}
{{- define "forkpool.dashboardSelectorLabels" -}}
app.kubernetes.io/name: {{ include "forkpool.name" . }}-dashboard
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The labels on the dashboard's resources. */}}
{{- define "forkpool.dashboardLabels" -}}
helm.sh/chart: {{ include "forkpool.chart" . }}
{{ include "forkpool.dashboardSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: dashboard
app.kubernetes.io/part-of: forkpool
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
