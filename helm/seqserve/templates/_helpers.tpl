{{/*
Chart name, truncated to 63 characters (a DNS label).
*/}}
{{- define "seqserve.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's resources: the release name, plus the chart name unless the release
name already contains it.
*/}}
{{- define "seqserve.fullname" -}}
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

{{/*
Chart label value.
*/}}
{{- define "seqserve.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: stable across upgrades.
*/}}
{{- define "seqserve.selectorLabels" -}}
app.kubernetes.io/name: {{ include "seqserve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "seqserve.labels" -}}
helm.sh/chart: {{ include "seqserve.chart" . }}
{{ include "seqserve.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: inference-server
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Name of the ServiceAccount.
*/}}
{{- define "seqserve.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "seqserve.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Server image (the GPU image with gpu.enabled).
*/}}
{{- define "seqserve.image" -}}
{{- if .Values.gpu.enabled }}
{{- printf "%s:%s" .Values.gpu.image.repository (default .Chart.AppVersion .Values.gpu.image.tag) }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Image of the model-copying init container: modelRepository.initContainer.repository, else the
server image.
*/}}
{{- define "seqserve.modelImage" -}}
{{- $ic := .Values.modelRepository.initContainer }}
{{- if $ic.repository }}
{{- printf "%s:%s" $ic.repository (default .Chart.AppVersion $ic.tag) }}
{{- else }}
{{- include "seqserve.image" . }}
{{- end }}
{{- end }}

{{/*
Name of the model repository PersistentVolumeClaim.
*/}}
{{- define "seqserve.pvcName" -}}
{{- default (printf "%s-models" (include "seqserve.fullname" .)) .Values.modelRepository.pvc.claimName }}
{{- end }}

{{/*
terminationGracePeriodSeconds: preStop pause + drain grace + drain timeout + margin, so that it
always exceeds what a drain may take.
*/}}
{{- define "seqserve.terminationGracePeriodSeconds" -}}
{{- $s := .Values.server }}
{{- $l := .Values.lifecycle }}
{{- if lt (int $l.terminationGraceMarginSeconds) 1 }}
{{- fail "lifecycle.terminationGraceMarginSeconds must be at least 1" }}
{{- end }}
{{- add (int (ceil $l.preStopSleepSeconds)) (int (ceil $s.drainGraceSeconds)) (int (ceil $s.drainTimeoutSeconds)) (int $l.terminationGraceMarginSeconds) }}
{{- end }}

{{/*
Fails on an unknown model repository source.
*/}}
{{- define "seqserve.validate" -}}
{{- $sources := list "initContainer" "pvc" "hostPath" "image" }}
{{- if not (has .Values.modelRepository.source $sources) }}
{{- fail (printf "modelRepository.source must be one of %s, not %q" (join ", " $sources) .Values.modelRepository.source) }}
{{- end }}
{{- if not (has .Values.lifecycle.preStopMode (list "exec" "sleepAction")) }}
{{- fail (printf "lifecycle.preStopMode must be exec or sleepAction, not %q" .Values.lifecycle.preStopMode) }}
{{- end }}
{{- if not (has .Values.probes.type (list "grpc" "http")) }}
{{- fail (printf "probes.type must be grpc or http, not %q" (toString .Values.probes.type)) }}
{{- end }}
{{- if and (eq .Values.probes.type "http") (ne (toString .Values.probes.service) "") }}
{{- fail (printf "probes.service %q asks gRPC health for one model; probes.type http has no per-model probe (set probes.service to \"\" or probes.type to grpc)" (toString .Values.probes.service)) }}
{{- end }}
{{- $http := int .Values.server.httpPort }}
{{- if not (or (eq $http -1) (and (ge $http 1) (le $http 65535))) }}
{{- fail (printf "server.httpPort must be 1..65535, or -1 to turn REST off (0, a free port, cannot be published), not %v" .Values.server.httpPort) }}
{{- end }}
{{- end }}
