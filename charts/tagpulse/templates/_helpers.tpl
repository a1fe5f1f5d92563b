{{/* Names, labels and the few values several templates share. */}}

{{- define "tagpulse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's prefix; the chart name is dropped when the release name already holds it. */}}
{{- define "tagpulse.fullname" -}}
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

{{/* <fullname>-<component>, e.g. tagpulse-query. Call with (dict "root" $ "component" "query"). */}}
{{- define "tagpulse.componentName" -}}
{{- printf "%s-%s" (include "tagpulse.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tagpulse.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tagpulse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tagpulse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tagpulse.labels" -}}
helm.sh/chart: {{ include "tagpulse.chart" . }}
{{ include "tagpulse.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tagpulse
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of one component's objects. Call with (dict "root" $ "component" "query"). */}}
{{- define "tagpulse.componentLabels" -}}
{{ include "tagpulse.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Selector labels of one component's pods. */}}
{{- define "tagpulse.componentSelectorLabels" -}}
{{ include "tagpulse.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tagpulse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tagpulse.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag, the tag defaulting to the chart's appVersion. Call with (dict "root" $ "image" .Values.query.image). */}}
{{- define "tagpulse.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag | toString) }}
{{- end }}

{{- define "tagpulse.secretName" -}}
{{- default (include "tagpulse.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "tagpulse.serviceHost" -}}
{{- printf "%s.%s.svc.%s" (include "tagpulse.componentName" .) .root.Release.Namespace .root.Values.clusterDomain }}
{{- end }}

{{/*
A generated credential: the value given, else the one the release's Secret already holds (helm's
lookup, on install and upgrade), else a new random one. Call with
(dict "root" $ "key" "redis-password" "value" .Values.redis.password "length" 32 "name" "redis.password" "inUrl" true).
A password that goes into a URL ("inUrl") may hold letters, digits and . _ ~ - only.
*/}}
{{- define "tagpulse.generatedSecret" -}}
{{- $stored := "" }}
{{- $secret := lookup "v1" "Secret" .root.Release.Namespace (include "tagpulse.fullname" .root) }}
{{- if and $secret (hasKey ($secret.data | default dict) .key) }}
{{- $stored = index $secret.data .key | b64dec }}
{{- end }}
{{- $value := .value | default $stored | default (randAlphaNum (int .length)) }}
{{- if and .inUrl (not (regexMatch "^[A-Za-z0-9._~-]+$" $value)) }}
{{- fail (printf "%s may hold only letters, digits and . _ ~ - (it goes into a URL)" .name) }}
{{- end }}
{{- $value }}
{{- end }}

{{- define "tagpulse.postgresPassword" -}}
{{- include "tagpulse.generatedSecret" (dict "root" . "key" "postgres-password" "value" .Values.postgresql.password "length" 32 "name" "postgresql.password" "inUrl" true) }}
{{- end }}

{{- define "tagpulse.redisPassword" -}}
{{- include "tagpulse.generatedSecret" (dict "root" . "key" "redis-password" "value" .Values.redis.password "length" 32 "name" "redis.password" "inUrl" true) }}
{{- end }}

{{- define "tagpulse.apiToken" -}}
{{- include "tagpulse.generatedSecret" (dict "root" . "key" "api-token" "value" .Values.secrets.apiToken "length" 40 "name" "secrets.apiToken") }}
{{- end }}

{{/* Whether the insights dashboard and its datasource ship: "true" or "". */}}
{{- define "tagpulse.insights" -}}
{{- if and .Values.insights.enabled .Values.dashboards.enabled }}true{{ end }}
{{- end }}

{{/*
The insights role's password: insights.password, else the one the Secret holds (the chart's, or
secrets.existingSecret's key insights-password, by helm lookup), else a new random one (chart's
Secret only). Worked out once per render and kept in .Values, because several templates need the
very same value: the Secret (and the migrations' hook Secret) that the migrations Job reads, and
the Grafana datasource.
*/}}
{{- define "tagpulse.insightsPassword" -}}
{{- if not (hasKey .Values.insights "generatedPassword") }}
{{- $value := .Values.insights.password }}
{{- if .Values.secrets.existingSecret }}
{{- if not $value }}
{{- $secret := lookup "v1" "Secret" .Release.Namespace .Values.secrets.existingSecret }}
{{- $value = index ($secret.data | default dict) "insights-password" | default "" | b64dec }}
{{- end }}
{{- if not $value }}
{{- fail (printf "insights: the Secret %s must hold insights-password (helm template cannot read it: set insights.password to the same value, or insights.enabled=false)" .Values.secrets.existingSecret) }}
{{- end }}
{{- else }}
{{- $value = include "tagpulse.generatedSecret" (dict "root" . "key" "insights-password" "value" $value "length" 32 "name" "insights.password") }}
{{- end }}
{{- $_ := set .Values.insights "generatedPassword" $value }}
{{- end }}
{{- .Values.insights.generatedPassword }}
{{- end }}

{{/* The most query replicas there may be: the autoscaler's maximum, or replicaCount. */}}
{{- define "tagpulse.queryMaxReplicas" -}}
{{- ternary .Values.query.autoscaling.maxReplicas .Values.query.replicaCount .Values.query.autoscaling.enabled | int }}
{{- end }}

{{/* Whether the Prometheus Operator's kinds are rendered: "true" or "". */}}
{{- define "tagpulse.prometheusOperator" -}}
{{- if or .Values.prometheusOperator.force (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") }}true{{ end }}
{{- end }}

{{/* The secrets every tagpulse container gets, by reference; the in-chart databases' URLs are
composed here (Kubernetes expands $(POSTGRES_PASSWORD) and $(REDIS_PASSWORD) when the container
starts). */}}
{{- define "tagpulse.env" -}}
{{- $secret := include "tagpulse.secretName" . -}}
- name: TAGPULSE_API_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: api-token}
{{ include "tagpulse.databaseEnv" . }}
{{- if .Values.redis.enabled }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: redis-password}
- name: TAGPULSE_REDIS_URL
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s:%d/0" (include "tagpulse.serviceHost" (dict "root" . "component" "redis")) (int .Values.redis.port) | quote }}
{{- else }}
{{- /* Several query replicas need the shared cache: then an existing Secret must hold redis-url. */}}
- name: TAGPULSE_REDIS_URL
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: redis-url, optional: {{ le (include "tagpulse.queryMaxReplicas" . | int) 1 }}}
{{- end }}
{{- with include "tagpulse.databaseCaEnv" . }}
{{ . }}
{{- end }}
- name: TAGPULSE_X_BEARER_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: x-bearer-token, optional: true}
- name: TAGPULSE_MASTODON_ACCESS_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: mastodon-access-token, optional: true}
- name: TAGPULSE_BLUESKY_APP_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: bluesky-app-password, optional: true}
{{- with .Values.config.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* TAGPULSE_DATABASE_URL from the Secret, or composed for the in-chart PostgreSQL. */}}
{{- define "tagpulse.databaseEnv" -}}
{{- $secret := include "tagpulse.secretName" . -}}
{{- if .Values.postgresql.enabled -}}
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: postgres-password}
- name: TAGPULSE_DATABASE_URL
  value: {{ printf "postgresql://%s:$(POSTGRES_PASSWORD)@%s:%d/%s" .Values.postgresql.username (include "tagpulse.serviceHost" (dict "root" . "component" "postgresql")) (int .Values.postgresql.port) .Values.postgresql.database | quote }}
{{- else -}}
- name: TAGPULSE_DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: database-url}
{{- end }}
{{- end }}

{{/* "true" when the retention runs as the CronJob (retention.enabled and config.retentionDays set);
the collector pods' own timer is then off. */}}
{{- define "tagpulse.retentionCronJob" -}}
{{- if and .Values.retention.enabled .Values.config.retentionDays }}true{{ end }}
{{- end }}

{{/* An external PostgreSQL's CA certificate (database.caCertificate): libpq reads PGSSLROOTCERT
and PGSSLMODE, so every URL form verifies the server the same way. */}}
{{- define "tagpulse.databaseCa" -}}
{{- $ca := .Values.database.caCertificate }}
{{- if and (not .Values.postgresql.enabled) (or $ca.secretName $ca.configMapName) }}true{{ end }}
{{- end }}

{{- define "tagpulse.databaseCaEnv" -}}
{{- if include "tagpulse.databaseCa" . -}}
- name: PGSSLROOTCERT
  value: {{ printf "/etc/tagpulse/database-ca/%s" .Values.database.caCertificate.key | quote }}
- name: PGSSLMODE
  value: {{ .Values.database.caCertificate.sslMode | quote }}
{{- end }}
{{- end }}

{{- define "tagpulse.databaseCaVolume" -}}
{{- $ca := .Values.database.caCertificate }}
{{- if include "tagpulse.databaseCa" . -}}
- name: database-ca
  {{- if $ca.secretName }}
  secret:
    secretName: {{ $ca.secretName }}
    items: [{key: {{ $ca.key }}, path: {{ $ca.key }}}]
  {{- else }}
  configMap:
    name: {{ $ca.configMapName }}
    items: [{key: {{ $ca.key }}, path: {{ $ca.key }}}]
  {{- end }}
{{- end }}
{{- end }}

{{- define "tagpulse.databaseCaMount" -}}
{{- if include "tagpulse.databaseCa" . -}}
- name: database-ca
  mountPath: /etc/tagpulse/database-ca
  readOnly: true
{{- end }}
{{- end }}

{{/*
The topologySpreadConstraints of a component's pods; a constraint without a labelSelector gets the
component's selector labels. Call with (dict "root" $ "component" "query" "constraints" list).
*/}}
{{- define "tagpulse.topologySpread" -}}
{{- $selector := include "tagpulse.componentSelectorLabels" (dict "root" .root "component" .component) | fromYaml }}
{{- $constraints := list }}
{{- range .constraints }}
{{- $constraint := deepCopy . }}
{{- if not (hasKey $constraint "labelSelector") }}
{{- $_ := set $constraint "labelSelector" (dict "matchLabels" $selector) }}
{{- end }}
{{- $constraints = append $constraints $constraint }}
{{- end }}
{{- toYaml $constraints }}
{{- end }}

{{- define "tagpulse.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{- define "tagpulse.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* Egress to the database: the in-chart PostgreSQL, or networkPolicy.externalDatabase. */}}
{{- define "tagpulse.networkPolicy.databaseEgress" -}}
{{- if .Values.postgresql.enabled -}}
- to:
    - podSelector:
        matchLabels:
          {{- include "tagpulse.componentSelectorLabels" (dict "root" . "component" "postgresql") | nindent 10 }}
  ports:
    - {protocol: TCP, port: {{ .Values.postgresql.port }}}
{{- else -}}
- to:
    {{- toYaml .Values.networkPolicy.externalDatabase.to | nindent 4 }}
  ports:
    {{- range .Values.networkPolicy.externalDatabase.ports }}
    - {protocol: TCP, port: {{ . }}}
    {{- end }}
{{- end }}
{{- end }}

{{/* Egress to Redis: the in-chart Redis, or networkPolicy.externalRedis when redis.url is set. */}}
{{- define "tagpulse.networkPolicy.redisEgress" -}}
{{- if .Values.redis.enabled -}}
- to:
    - podSelector:
        matchLabels:
          {{- include "tagpulse.componentSelectorLabels" (dict "root" . "component" "redis") | nindent 10 }}
  ports:
    - {protocol: TCP, port: {{ .Values.redis.port }}}
{{- else if .Values.redis.url -}}
- to:
    {{- toYaml .Values.networkPolicy.externalRedis.to | nindent 4 }}
  ports:
    {{- range .Values.networkPolicy.externalRedis.ports }}
    - {protocol: TCP, port: {{ . }}}
    {{- end }}
{{- end }}
{{- end }}

{{/*
A service's terminationGracePeriodSeconds, refused when it leaves no room for the drain and the
grace the service takes on SIGTERM (Kubernetes would SIGKILL it in the middle).
*/}}
{{- define "tagpulse.terminationGrace" -}}
{{- $config := .root.Values.config }}
{{- $needed := add (ceil $config.shutdownDrainSeconds) (ceil $config.shutdownGraceSeconds) 2 }}
{{- if lt (int .seconds) (int $needed) }}
{{- fail (printf "%s.terminationGracePeriodSeconds (%v) must be at least config.shutdownDrainSeconds + config.shutdownGraceSeconds + 2 (%v)" .component .seconds $needed) }}
{{- end }}
{{- .seconds }}
{{- end }}

{{/* config.retentionDays ({x: 30, mastodon: 90}) as TAGPULSE_RETENTION_DAYS ("mastodon=90,x=30"). */}}
{{- define "tagpulse.retentionDays" -}}
{{- $parts := list -}}
{{- range $source, $days := . -}}
{{- $parts = append $parts (printf "%s=%d" $source (int $days)) -}}
{{- end -}}
{{- join "," $parts -}}
{{- end }}
