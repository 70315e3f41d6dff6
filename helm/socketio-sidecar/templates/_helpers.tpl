{{- define "socketio-sidecar.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "socketio-sidecar.fullname" -}}
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

{{- define "socketio-sidecar.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "socketio-sidecar.labels" -}}
helm.sh/chart: {{ include "socketio-sidecar.chart" . }}
{{ include "socketio-sidecar.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "socketio-sidecar.selectorLabels" -}}
app.kubernetes.io/name: {{ include "socketio-sidecar.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "socketio-sidecar.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "socketio-sidecar.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
An option as the sidecar parses it. Numbers from values files arrive as float64, which
toString would print as 1e+06: whole numbers are printed as integers.
*/}}
{{- define "socketio-sidecar.optionValue" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) }}
{{- int64 . }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/* Where the sidecar serves gRPC: the pod only, or the Service too for Admin calls. */}}
{{- define "socketio-sidecar.grpcAddress" -}}
{{- if .Values.service.exposeAdmin }}
{{- printf "0.0.0.0:%d" (int .Values.sidecar.ports.grpc) }}
{{- else }}
{{- printf "127.0.0.1:%d" (int .Values.sidecar.ports.grpc) }}
{{- end }}
{{- end }}

{{/* The sidecar container; a native sidecar adds restartPolicy: Always. */}}
{{- define "socketio-sidecar.sidecarContainer" -}}
- name: socketio-sidecar
  image: "{{ .Values.sidecar.image.repository }}:{{ .Values.sidecar.image.tag | default .Chart.AppVersion }}"
  imagePullPolicy: {{ .Values.sidecar.image.pullPolicy }}
  {{- if .Values.sidecar.nativeSidecar }}
  restartPolicy: Always
  {{- end }}
  ports:
    - name: socketio
      containerPort: {{ .Values.sidecar.ports.socketio }}
      protocol: TCP
    - name: grpc
      containerPort: {{ .Values.sidecar.ports.grpc }}
      protocol: TCP
    - name: ops
      containerPort: {{ .Values.sidecar.ports.ops }}
      protocol: TCP
  envFrom:
    - configMapRef:
        name: {{ include "socketio-sidecar.fullname" . }}
  env:
    - name: POD_IP
      valueFrom:
        fieldRef:
          fieldPath: status.podIP
    {{- if .Values.cluster.enabled }}
    # The other replicas relay requests for this pod's clients here.
    - name: SIDECAR_ADVERTISE_ADDRESS
      value: "$(POD_IP):{{ .Values.sidecar.ports.socketio }}"
    {{- if .Values.cluster.redisUrlSecret.name }}
    - name: SIDECAR_REDIS_URL
      valueFrom:
        secretKeyRef:
          name: {{ .Values.cluster.redisUrlSecret.name }}
          key: {{ .Values.cluster.redisUrlSecret.key }}
    {{- else }}
    - name: SIDECAR_REDIS_URL
      value: {{ required "cluster.enabled needs cluster.redisUrl or cluster.redisUrlSecret.name" .Values.cluster.redisUrl | quote }}
    {{- end }}
    {{- end }}
    {{- if .Values.sidecar.adminToken.existingSecret }}
    - name: SIDECAR_ADMIN_TOKEN
      valueFrom:
        secretKeyRef:
          name: {{ .Values.sidecar.adminToken.existingSecret }}
          key: {{ .Values.sidecar.adminToken.key }}
    {{- end }}
  startupProbe:
    httpGet:
      path: /healthz
      port: ops
    periodSeconds: 1
    failureThreshold: 30
  readinessProbe:
    httpGet:
      path: /readyz
      port: ops
    periodSeconds: 5
    failureThreshold: 2
  livenessProbe:
    httpGet:
      path: /healthz
      port: ops
    periodSeconds: 10
    failureThreshold: 3
  lifecycle:
    preStop:
      exec:
        command: ["/bin/sleep", "{{ .Values.sidecar.preStopSleepSeconds }}"]
  resources:
    {{- toYaml .Values.sidecar.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.sidecar.securityContext | nindent 4 }}
{{- end }}
