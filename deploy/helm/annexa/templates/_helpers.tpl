{{/* Chart name, truncated to 63 characters. */}}
{{- define "annexa.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name: the release name alone if it already contains the chart name. */}}
{{- define "annexa.fullname" -}}
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

{{- define "annexa.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "annexa.selectorLabels" -}}
app.kubernetes.io/name: {{ include "annexa.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "annexa.labels" -}}
helm.sh/chart: {{ include "annexa.chart" . }}
{{ include "annexa.selectorLabels" . }}
app.kubernetes.io/version: {{ include "annexa.version" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: annexa
{{- end }}

{{- define "annexa.version" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "annexa.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "annexa.version" .) }}
{{- end }}

{{- define "annexa.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "annexa.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* "true" when the chart runs its own PostgreSQL: enabled and no external store given. */}}
{{- define "annexa.managedPostgres" -}}
{{- if and .Values.postgresql.enabled (not .Values.store.existingSecret) (not .Values.store.url) }}true{{ end }}
{{- end }}

{{- define "annexa.postgresSecretName" -}}
{{- printf "%s-postgresql" (include "annexa.fullname" .) }}
{{- end }}

{{/*
Secret holding the store URL. Every Annexa workload reads the store from it, so the CronJob, the
exporter and verification always share one store. Without any (no external store and the managed
PostgreSQL disabled) rendering fails: pods would each get a private SQLite file.
*/}}
{{- define "annexa.storeSecretName" -}}
{{- if .Values.store.existingSecret }}
{{- .Values.store.existingSecret }}
{{- else if .Values.store.url }}
{{- printf "%s-store" (include "annexa.fullname" .) }}
{{- else if include "annexa.managedPostgres" . }}
{{- include "annexa.postgresSecretName" . }}
{{- else }}
{{- fail "Annexa needs one store shared by all its pods: keep postgresql.enabled=true (the chart runs PostgreSQL), or give your own database with store.url or store.existingSecret" }}
{{- end }}
{{- end }}

{{- define "annexa.evidenceClaimName" -}}
{{- default (printf "%s-evidence" (include "annexa.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{/* Checksum of the configuration, so that pods restart when it changes. */}}
{{- define "annexa.configChecksum" -}}
{{- $files := dict "annexa.yaml" .Values.config }}
{{- range $k, $v := .Values.extraConfigFiles }}{{ $_ := set $files $k $v }}{{ end }}
{{- toYaml $files | sha256sum }}
{{- end }}

{{/*
Pod spec shared by the CronJob, the migration Job and the exporter Deployment.
Call with (dict "root" $ "args" (list ...) "resources" .Values.x.resources and optionally
"restartPolicy" "Never", "waitForStore" true (wait for the chart's PostgreSQL first), "evidence" true (mount the evidence volume), "tokens" true (source
credentials: extraEnvFromSecrets, envFromSecrets), "ports" true (metrics port and probes),
"env" (list ...) (extra env entries first)).
*/}}
{{- define "annexa.podSpec" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
serviceAccountName: {{ include "annexa.serviceAccountName" $root }}
automountServiceAccountToken: false
{{- with .restartPolicy }}
restartPolicy: {{ . }}
{{- end }}
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
{{- if and .waitForStore (include "annexa.managedPostgres" $root) }}
initContainers:
  # The chart's PostgreSQL may still be starting on a first install: wait for it (at most the
  # Job's activeDeadlineSeconds) instead of burning the Job's retries.
  - name: wait-for-store
    image: "{{ $v.postgresql.image.repository }}:{{ $v.postgresql.image.tag }}"
    imagePullPolicy: {{ $v.postgresql.image.pullPolicy }}
    command: ["sh", "-c", "until pg_isready -q -h {{ include "annexa.fullname" $root }}-postgresql -p 5432; do sleep 2; done"]
    securityContext:
      {{- toYaml $v.securityContext | nindent 6 }}
    resources:
      requests:
        cpu: 10m
        memory: 16Mi
      limits:
        memory: 64Mi
{{- end }}
containers:
  - name: annexa
    image: {{ include "annexa.image" $root }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    args:
      {{- toYaml .args | nindent 6 }}
    {{- $env := .env | default list }}
    {{- with include "annexa.storeSecretName" $root }}
    {{- $env = append $env (dict "name" "ANNEXA_STORE_URL" "valueFrom" (dict "secretKeyRef" (dict "name" . "key" $v.store.secretKey))) }}
    {{- end }}
    {{- if .tokens }}
    {{- range $v.extraEnvFromSecrets }}
    {{- $ref := dict "name" .secretName "key" .key }}
    {{- if hasKey . "optional" }}{{ $_ := set $ref "optional" .optional }}{{ end }}
    {{- $env = append $env (dict "name" .name "valueFrom" (dict "secretKeyRef" $ref)) }}
    {{- end }}
    {{- end }}
    {{- $env = concat $env $v.extraEnv }}
    {{- with $env }}
    env:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- if and .tokens $v.envFromSecrets }}
    envFrom:
      {{- range $v.envFromSecrets }}
      - secretRef:
          name: {{ . }}
      {{- end }}
    {{- end }}
    {{- if .ports }}
    ports:
      - name: metrics
        containerPort: {{ $v.exporter.port }}
        protocol: TCP
    startupProbe:
      httpGet:
        path: /healthz
        port: metrics
      periodSeconds: 5
      failureThreshold: 24
    livenessProbe:
      httpGet:
        path: /healthz
        port: metrics
      periodSeconds: 20
      timeoutSeconds: 5
      failureThreshold: 3
    readinessProbe:
      httpGet:
        path: /readyz
        port: metrics
      periodSeconds: 10
      timeoutSeconds: 5
      failureThreshold: 3
    {{- end }}
    {{- with .resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    securityContext:
      {{- toYaml $v.securityContext | nindent 6 }}
    volumeMounts:
      - name: config
        mountPath: /etc/annexa
        readOnly: true
      - name: work
        mountPath: /var/lib/annexa
      {{- if .evidence }}
      - name: evidence
        mountPath: /var/lib/annexa/evidence
      {{- end }}
      - name: tmp
        mountPath: /tmp
volumes:
  - name: config
    configMap:
      name: {{ include "annexa.fullname" $root }}
  - name: work
    emptyDir: {}
  {{- if .evidence }}
  - name: evidence
    {{- if $v.persistence.enabled }}
    persistentVolumeClaim:
      claimName: {{ include "annexa.evidenceClaimName" $root }}
    {{- else }}
    emptyDir: {}
    {{- end }}
  {{- end }}
  - name: tmp
    emptyDir:
      sizeLimit: 1Gi
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Pod template metadata shared by all workloads. Call with (dict "root" $ "component" "x"). */}}
{{- define "annexa.podMetadata" -}}
labels:
  {{- include "annexa.selectorLabels" .root | nindent 2 }}
  app.kubernetes.io/component: {{ .component }}
  {{- with .root.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  checksum/config: {{ include "annexa.configChecksum" .root }}
  {{- with .root.Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
