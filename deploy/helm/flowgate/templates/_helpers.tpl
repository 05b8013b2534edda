{{/* The image every container runs. */}}
{{- define "flowgate.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* Labels of one component's objects: flowgate.labels <component>. */}}
{{- define "flowgate.labels" -}}
app.kubernetes.io/component: {{ . }}
app.kubernetes.io/name: flowgate
app.kubernetes.io/part-of: flowgate
{{- end }}

{{/* The selector of one component's pods: flowgate.selector <component>. */}}
{{- define "flowgate.selector" -}}
app.kubernetes.io/component: {{ . }}
app.kubernetes.io/name: flowgate
{{- end }}
