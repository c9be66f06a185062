{{/* Chart name. */}}
{{- define "git-events-runner.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 42 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: 42 characters at most, so that "<fullname>-admission-tls" and the like stay valid
names (Services: 63-character DNS labels).
*/}}
{{- define "git-events-runner.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 42 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 42 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 42 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "git-events-runner.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; pass (dict "ctx" $ "component" "controller"). */}}
{{- define "git-events-runner.labels" -}}
helm.sh/chart: {{ include "git-events-runner.chart" .ctx }}
{{ include "git-events-runner.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: git-events-runner
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels; pass (dict "ctx" $ "component" "controller"). */}}
{{- define "git-events-runner.selectorLabels" -}}
app.kubernetes.io/name: {{ include "git-events-runner.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/* An image reference from {repository, tag, digest}; pass (dict "ctx" $ "image" .Values.image). */}}
{{- define "git-events-runner.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default (printf "v%s" .ctx.Chart.AppVersion) .image.tag) }}
{{- end }}
{{- end }}

{{- define "git-events-runner.controllerServiceAccountName" -}}
{{- if .Values.controller.serviceAccount.create }}
{{- default (printf "%s-controller" (include "git-events-runner.fullname" .)) .Values.controller.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.controller.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "git-events-runner.admissionServiceAccountName" -}}
{{- if .Values.admission.serviceAccount.create }}
{{- default (printf "%s-admission" (include "git-events-runner.fullname" .)) .Values.admission.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.admission.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Name of the action Jobs' service account (the helper `git-events-runner config --helm-template` refers to). */}}
{{- define "git-events-runner.actionJobServiceAccountName" -}}
{{- default (printf "%s-action-job" (include "git-events-runner.fullname" .)) .Values.actionJobs.serviceAccount.name }}
{{- end }}

{{- define "git-events-runner.configMapName" -}}
{{- printf "%s-config" (include "git-events-runner.fullname" .) }}
{{- end }}

{{- define "git-events-runner.leaseName" -}}
{{- printf "%s-leader-lock" (include "git-events-runner.fullname" .) }}
{{- end }}

{{- define "git-events-runner.admissionServiceName" -}}
{{- printf "%s-admission" (include "git-events-runner.fullname" .) }}
{{- end }}

{{- define "git-events-runner.admissionTlsSecretName" -}}
{{- printf "%s-admission-tls" (include "git-events-runner.fullname" .) }}
{{- end }}

{{/* Whether the controller's namespaced rights apply to every namespace. */}}
{{- define "git-events-runner.allNamespaces" -}}
{{- if has "*" .Values.rbac.triggerNamespaces }}true{{ end }}
{{- end }}

{{/* Namespaces where the controller acts (JSON list): the release namespace and rbac.triggerNamespaces. */}}
{{- define "git-events-runner.triggerNamespaces" -}}
{{- $list := list .Release.Namespace }}
{{- range .Values.rbac.triggerNamespaces }}{{ if ne . "*" }}{{ $list = append $list . }}{{ end }}{{ end }}
{{- $list | uniq | toJson }}
{{- end }}

{{/* Namespaces that get the action Job service account (JSON list). */}}
{{- define "git-events-runner.actionJobNamespaces" -}}
{{- $list := include "git-events-runner.triggerNamespaces" . | fromJsonArray }}
{{- range .Values.actionJobs.namespaces }}{{ $list = append $list . }}{{ end }}
{{- $list | uniq | toJson }}
{{- end }}

{{/* Namespaces with ClusterGitRepo Secrets beyond the trigger namespaces (JSON list). */}}
{{- define "git-events-runner.secretNamespaces" -}}
{{- $triggers := include "git-events-runner.triggerNamespaces" . | fromJsonArray }}
{{- $list := list }}
{{- range .Values.rbac.secretNamespaces }}{{ if not (has . $triggers) }}{{ $list = append $list . }}{{ end }}{{ end }}
{{- $list | uniq | toJson }}
{{- end }}

{{/* Checks of values that the schema cannot express (relations between fields). */}}
{{- define "git-events-runner.validate" -}}
{{- $o := .Values.controllerOptions }}
{{- if ge (int $o.leaderLease.grace) (int $o.leaderLease.duration) }}
{{- fail (printf "controllerOptions.leaderLease.grace (%v) must be less than controllerOptions.leaderLease.duration (%v)" $o.leaderLease.grace $o.leaderLease.duration) }}
{{- end }}
{{- if ge (int $o.shutdownTimeoutSeconds) (int .Values.controller.terminationGracePeriodSeconds) }}
{{- fail (printf "controllerOptions.shutdownTimeoutSeconds (%v) must be less than controller.terminationGracePeriodSeconds (%v)" $o.shutdownTimeoutSeconds .Values.controller.terminationGracePeriodSeconds) }}
{{- end }}
{{- if and .Values.webhooks.tls.enabled (not .Values.webhooks.tls.secretName) }}
{{- fail "webhooks.tls.secretName is required when webhooks.tls.enabled is true" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled" }}
{{- end }}
{{- if and (has "*" .Values.rbac.triggerNamespaces) (gt (len .Values.rbac.triggerNamespaces) 1) }}
{{- fail "rbac.triggerNamespaces: \"*\" (every namespace) cannot be combined with namespace names" }}
{{- end }}
{{- end }}

{{/*
topologySpreadConstraints of a Deployment: the given ones, else (with more than one replica) a soft
spread over nodes, so that replicas meant for availability do not share a node when they need not.
Pass (dict "ctx" $ "component" "controller" "values" .Values.controller).
*/}}
{{- define "git-events-runner.topologySpread" -}}
{{- if .values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml .values.topologySpreadConstraints | nindent 2 }}
{{- else if gt (int .values.replicas) 1 }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "git-events-runner.selectorLabels" . | nindent 8 }}
{{- end }}
{{- end }}
