// Package helm checks the Helm chart in helm/socketio-sidecar with Helm's own Go packages: the
// chart lints strictly, renders as `helm template` would for the default and the cluster values,
// every rendered manifest decodes strictly into its Kubernetes API type (an unknown field fails),
// and the manifests say what the sidecar needs: probes, options, cluster wiring, shutdown timing.
package helm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

const (
	chartDir          = "../../helm/socketio-sidecar"
	clusterValuesFile = chartDir + "/ci/cluster-values.yaml"
	optionsSource     = "../../sidecar/config/options.cc"
	kubeVersion       = "v1.30.0"
)

// serviceMonitor is the part of monitoring.coreos.com/v1 ServiceMonitor the chart writes; any
// other field fails the strict decode.
type serviceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// manifests holds one rendering of the chart, each object decoded into its API type.
type manifests struct {
	kinds          []string
	deployment     *appsv1.Deployment
	configMap      *corev1.ConfigMap
	service        *corev1.Service
	serviceAccount *corev1.ServiceAccount
	ingress        *networkingv1.Ingress
	pdb            *policyv1.PodDisruptionBudget
	hpa            *autoscalingv2.HorizontalPodAutoscaler
	serviceMonitor *serviceMonitor
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	loaded, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	return loaded
}

// valuesFromYAML parses values as `helm -f` does: numbers become float64.
func valuesFromYAML(t *testing.T, text string) map[string]any {
	t.Helper()
	values, err := chartutil.ReadValues([]byte(text))
	if err != nil {
		t.Fatalf("values %q: %v", text, err)
	}
	return values
}

func clusterValues(t *testing.T) map[string]any {
	t.Helper()
	values, err := chartutil.ReadValuesFile(clusterValuesFile)
	if err != nil {
		t.Fatal(err)
	}
	return values
}

// renderChart does what `helm template release <chart> --kube-version <version>` does: coalesce
// the values with the chart's defaults, validate them against values.schema.json, and execute the
// templates, missing keys being errors. It returns the manifests without NOTES.txt.
func renderChart(t *testing.T, values map[string]any, version string) (map[string]string, error) {
	t.Helper()
	loaded := loadChart(t)
	parsedVersion, err := chartutil.ParseKubeVersion(version)
	if err != nil {
		t.Fatal(err)
	}
	capabilities := chartutil.DefaultCapabilities.Copy()
	capabilities.KubeVersion = *parsedVersion
	options := chartutil.ReleaseOptions{Name: "release", Namespace: "default", IsInstall: true}
	renderValues, err := chartutil.ToRenderValues(loaded, values, options, capabilities)
	if err != nil {
		return nil, err
	}
	files, err := engine.Engine{Strict: true}.Render(loaded, renderValues)
	if err != nil {
		return nil, err
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	return files, nil
}

// decodeStrictly decodes one YAML document into out, failing on any field out's type lacks.
func decodeStrictly(document []byte, out any) error {
	asJSON, err := yaml.YAMLToJSON(document)
	if err != nil {
		return err
	}
	decoder := json.NewDecoder(bytes.NewReader(asJSON))
	decoder.DisallowUnknownFields()
	return decoder.Decode(out)
}

// render renders the chart and decodes every object, failing the test on any error.
func render(t *testing.T, values map[string]any) manifests {
	t.Helper()
	files, err := renderChart(t, values, kubeVersion)
	if err != nil {
		t.Fatalf("rendering: %v", err)
	}
	var rendered manifests
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, document := range strings.Split(files[name], "\n---") {
			decodeDocument(t, name, []byte(document), &rendered)
		}
	}
	sort.Strings(rendered.kinds)
	if rendered.deployment == nil || rendered.configMap == nil || rendered.service == nil {
		t.Fatalf("want a Deployment, a ConfigMap and a Service, got %v", rendered.kinds)
	}
	return rendered
}

func decodeDocument(t *testing.T, file string, document []byte, rendered *manifests) {
	t.Helper()
	var header struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(document, &header); err != nil {
		t.Fatalf("%s is not YAML: %v\n%s", file, err, document)
	}
	if header.Kind == "" {
		return
	}
	var target any
	switch header.APIVersion + " " + header.Kind {
	case "apps/v1 Deployment":
		rendered.deployment = &appsv1.Deployment{}
		target = rendered.deployment
	case "v1 ConfigMap":
		rendered.configMap = &corev1.ConfigMap{}
		target = rendered.configMap
	case "v1 Service":
		rendered.service = &corev1.Service{}
		target = rendered.service
	case "v1 ServiceAccount":
		rendered.serviceAccount = &corev1.ServiceAccount{}
		target = rendered.serviceAccount
	case "networking.k8s.io/v1 Ingress":
		rendered.ingress = &networkingv1.Ingress{}
		target = rendered.ingress
	case "policy/v1 PodDisruptionBudget":
		rendered.pdb = &policyv1.PodDisruptionBudget{}
		target = rendered.pdb
	case "autoscaling/v2 HorizontalPodAutoscaler":
		rendered.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
		target = rendered.hpa
	case "monitoring.coreos.com/v1 ServiceMonitor":
		rendered.serviceMonitor = &serviceMonitor{}
		target = rendered.serviceMonitor
	default:
		t.Fatalf("%s renders an unexpected %s %s", file, header.APIVersion, header.Kind)
	}
	if err := decodeStrictly(document, target); err != nil {
		t.Fatalf("%s: %s does not decode strictly: %v\n%s", file, header.Kind, err, document)
	}
	rendered.kinds = append(rendered.kinds, header.Kind)
}

func (m manifests) podSpec() corev1.PodSpec { return m.deployment.Spec.Template.Spec }

func (m manifests) container(t *testing.T, name string) corev1.Container {
	t.Helper()
	spec := m.podSpec()
	for _, container := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		if container.Name == name {
			return container
		}
	}
	t.Fatalf("no container %q", name)
	return corev1.Container{}
}

func (m manifests) sidecar(t *testing.T) corev1.Container {
	t.Helper()
	return m.container(t, "socketio-sidecar")
}

func env(container corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, variable := range container.Env {
		if variable.Name == name {
			return variable, true
		}
	}
	return corev1.EnvVar{}, false
}

func containerPort(container corev1.Container, name string) int32 {
	for _, port := range container.Ports {
		if port.Name == name {
			return port.ContainerPort
		}
	}
	return 0
}

func TestChartLintsStrictly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values func(t *testing.T) map[string]any
	}{
		{"with the default values", func(*testing.T) map[string]any { return map[string]any{} }},
		{"with ci/cluster-values.yaml", clusterValues},
	} {
		t.Run(tc.name, func(t *testing.T) {
			version, err := chartutil.ParseKubeVersion(kubeVersion)
			if err != nil {
				t.Fatal(err)
			}
			linter := lint.AllWithKubeVersion(chartDir, tc.values(t), "default", version)
			// `helm lint --strict`: a warning fails as an error does; INFO is allowed.
			for _, message := range linter.Messages {
				if message.Severity >= support.WarningSev {
					t.Errorf("%s", message)
				} else {
					t.Logf("%s", message)
				}
			}
		})
	}
}

func TestEveryRenderedManifestDecodesStrictlyIntoItsKubernetesType(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values func(t *testing.T) map[string]any
		kinds  []string
	}{
		{
			"the default values render the Deployment, its options, a Service and a PDB",
			func(*testing.T) map[string]any { return map[string]any{} },
			[]string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Service"},
		},
		{
			"the cluster values add an HPA, an Ingress, a ServiceAccount and a ServiceMonitor",
			clusterValues,
			[]string{"ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Ingress",
				"PodDisruptionBudget", "Service", "ServiceAccount", "ServiceMonitor"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rendered := render(t, tc.values(t))
			if !slices.Equal(rendered.kinds, tc.kinds) {
				t.Errorf("kinds = %v, want %v", rendered.kinds, tc.kinds)
			}
		})
	}
}

func TestSidecarProbesPointAtReadyzAndHealthzOnTheOpsPort(t *testing.T) {
	for _, tc := range []struct {
		name    string
		values  string
		opsPort int32
	}{
		{"with the default ops port", ``, 8081},
		{"with another ops port", "sidecar: {ports: {ops: 9090}}", 9090},
		{"as a native sidecar", "sidecar: {nativeSidecar: true}", 8081},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rendered := render(t, valuesFromYAML(t, tc.values))
			sidecar := rendered.sidecar(t)
			if got := containerPort(sidecar, "ops"); got != tc.opsPort {
				t.Errorf("the ops port is %d, want %d", got, tc.opsPort)
			}
			if got := rendered.configMap.Data["SIDECAR_OPS_PORT"]; got != fmt.Sprint(tc.opsPort) {
				t.Errorf("SIDECAR_OPS_PORT = %q, want %d", got, tc.opsPort)
			}
			for _, probe := range []struct {
				kind  string
				probe *corev1.Probe
				path  string
			}{
				{"readiness", sidecar.ReadinessProbe, "/readyz"},
				{"liveness", sidecar.LivenessProbe, "/healthz"},
				{"startup", sidecar.StartupProbe, "/healthz"},
			} {
				if probe.probe == nil || probe.probe.HTTPGet == nil {
					t.Errorf("no HTTP %s probe", probe.kind)
					continue
				}
				get := probe.probe.HTTPGet
				if get.Path != probe.path || get.Port != intstr.FromString("ops") {
					t.Errorf("%s probe gets %s on port %s, want %s on ops", probe.kind, get.Path, get.Port.String(), probe.path)
				}
			}
		})
	}
}

func TestEveryConfigValueBecomesASidecarVariableInTheConfigMap(t *testing.T) {
	for _, tc := range []struct {
		name     string
		values   map[string]any
		variable string
		want     string
	}{
		{"a string", valuesFromYAML(t, `sidecar: {config: {cors_allowed_origins: "https://a.example,https://b.example"}}`),
			"SIDECAR_CORS_ALLOWED_ORIGINS", "https://a.example,https://b.example"},
		{"a large whole number from a values file, not in exponent form",
			valuesFromYAML(t, `sidecar: {config: {max_http_buffer_size: 10000000}}`), "SIDECAR_MAX_HTTP_BUFFER_SIZE", "10000000"},
		{"a whole number from --set", map[string]any{"sidecar": map[string]any{"config": map[string]any{"max_outbound_queue": int64(2000)}}},
			"SIDECAR_MAX_OUTBOUND_QUEUE", "2000"},
		{"a fraction of a second", valuesFromYAML(t, `sidecar: {config: {ping_interval: 0.5}}`), "SIDECAR_PING_INTERVAL", "0.5"},
		{"a number given as a string", valuesFromYAML(t, `sidecar: {config: {ping_timeout: "15"}}`), "SIDECAR_PING_TIMEOUT", "15"},
		{"a boolean", valuesFromYAML(t, `sidecar: {config: {allow_upgrades: false}}`), "SIDECAR_ALLOW_UPGRADES", "false"},
		{"the listener's host, which the chart defaults", valuesFromYAML(t, `sidecar: {config: {host: "::"}}`), "SIDECAR_HOST", "::"},
		{"JSON logs by default", map[string]any{}, "SIDECAR_LOG_FORMAT", "json"},
		{"the drain window", valuesFromYAML(t, `sidecar: {drainTimeoutSeconds: 45}`), "SIDECAR_DRAIN_TIMEOUT", "45"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rendered := render(t, tc.values)
			if got, ok := rendered.configMap.Data[tc.variable]; !ok || got != tc.want {
				t.Errorf("%s = %q (set: %v), want %q", tc.variable, got, ok, tc.want)
			}
			if len(rendered.sidecar(t).EnvFrom) != 1 || rendered.sidecar(t).EnvFrom[0].ConfigMapRef.Name != rendered.configMap.Name {
				t.Errorf("the sidecar does not take its variables from the ConfigMap: %+v", rendered.sidecar(t).EnvFrom)
			}
		})
	}

	t.Run("every entry of the cluster values' config", func(t *testing.T) {
		values := clusterValues(t)
		config := values["sidecar"].(map[string]any)["config"].(map[string]any)
		rendered := render(t, values)
		for name := range config {
			variable := "SIDECAR_" + strings.ToUpper(name)
			if _, ok := rendered.configMap.Data[variable]; !ok {
				t.Errorf("config %s is not %s in the ConfigMap", name, variable)
			}
		}
	})
}

func TestClusterModeSetsTheRedisURLAndAdvertisesThePodIP(t *testing.T) {
	for _, tc := range []struct {
		name     string
		values   map[string]any
		redisURL func(corev1.EnvVar) bool
	}{
		{"with the cluster values' plain URL", clusterValues(t), func(variable corev1.EnvVar) bool {
			return variable.Value == "redis://redis.default.svc:6379"
		}},
		{"with the URL in a Secret", valuesFromYAML(t, `cluster: {enabled: true, redisUrlSecret: {name: redis-auth, key: url}}`),
			func(variable corev1.EnvVar) bool {
				from := variable.ValueFrom
				return from != nil && from.SecretKeyRef != nil && from.SecretKeyRef.Name == "redis-auth" && from.SecretKeyRef.Key == "url"
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rendered := render(t, tc.values)
			sidecar := rendered.sidecar(t)
			if variable, ok := env(sidecar, "SIDECAR_REDIS_URL"); !ok || !tc.redisURL(variable) {
				t.Errorf("SIDECAR_REDIS_URL = %+v", variable)
			}
			podIP, ok := env(sidecar, "POD_IP")
			if !ok || podIP.ValueFrom == nil || podIP.ValueFrom.FieldRef == nil || podIP.ValueFrom.FieldRef.FieldPath != "status.podIP" {
				t.Fatalf("POD_IP does not come from status.podIP: %+v", podIP)
			}
			advertise, ok := env(sidecar, "SIDECAR_ADVERTISE_ADDRESS")
			if !ok || advertise.Value != "$(POD_IP):5000" {
				t.Errorf("SIDECAR_ADVERTISE_ADDRESS = %+v, want $(POD_IP):5000", advertise)
			}
			// $(POD_IP) is expanded only from variables defined before it.
			if slices.IndexFunc(sidecar.Env, func(v corev1.EnvVar) bool { return v.Name == "POD_IP" }) >
				slices.IndexFunc(sidecar.Env, func(v corev1.EnvVar) bool { return v.Name == "SIDECAR_ADVERTISE_ADDRESS" }) {
				t.Error("POD_IP is defined after SIDECAR_ADVERTISE_ADDRESS, so it would not be expanded")
			}
			if rendered.configMap.Data["SIDECAR_CHANNEL"] == "" {
				t.Error("no SIDECAR_CHANNEL in cluster mode")
			}
		})
	}

	t.Run("a single sidecar gets neither", func(t *testing.T) {
		sidecar := render(t, map[string]any{}).sidecar(t)
		for _, name := range []string{"SIDECAR_REDIS_URL", "SIDECAR_ADVERTISE_ADDRESS"} {
			if _, ok := env(sidecar, name); ok {
				t.Errorf("%s is set without cluster mode", name)
			}
		}
	})
}

func TestNativeSidecarRendersAnInitContainerWithRestartPolicyAlways(t *testing.T) {
	for _, tc := range []struct {
		name       string
		values     string
		native     bool
		containers []string
	}{
		{"a regular sidecar runs beside the app", ``, false, []string{"app", "socketio-sidecar"}},
		{"a native sidecar is an init container that keeps running", `sidecar: {nativeSidecar: true}`, true, []string{"app"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := render(t, valuesFromYAML(t, tc.values)).podSpec()
			var containers []string
			for _, container := range spec.Containers {
				containers = append(containers, container.Name)
			}
			if !slices.Equal(containers, tc.containers) {
				t.Errorf("containers = %v, want %v", containers, tc.containers)
			}
			if !tc.native {
				if len(spec.InitContainers) != 0 {
					t.Errorf("init containers: %+v", spec.InitContainers)
				}
				return
			}
			if len(spec.InitContainers) != 1 || spec.InitContainers[0].Name != "socketio-sidecar" {
				t.Fatalf("init containers: %+v", spec.InitContainers)
			}
			policy := spec.InitContainers[0].RestartPolicy
			if policy == nil || *policy != corev1.ContainerRestartPolicyAlways {
				t.Errorf("restartPolicy = %v, want Always", policy)
			}
		})
	}

	t.Run("Kubernetes before 1.29 is refused", func(t *testing.T) {
		_, err := renderChart(t, valuesFromYAML(t, `sidecar: {nativeSidecar: true}`), "v1.28.5")
		if err == nil || !strings.Contains(err.Error(), "needs Kubernetes 1.29") {
			t.Fatalf("err = %v, want one saying it needs Kubernetes 1.29", err)
		}
	})
}

func TestGracePeriodCoversTheAppShutdownThePreStopDelayAndTheDrain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values string
		drain  int64
		want   int64
	}{
		{"with the defaults", ``, 20, 10 + 5 + 20},
		{"with a longer drain", `sidecar: {drainTimeoutSeconds: 60}`, 60, 10 + 5 + 60},
		{"with a slow app as a native sidecar", `{app: {shutdownSeconds: 30}, sidecar: {nativeSidecar: true, preStopSleepSeconds: 0}}`, 20, 30 + 0 + 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rendered := render(t, valuesFromYAML(t, tc.values))
			grace := rendered.podSpec().TerminationGracePeriodSeconds
			if grace == nil || *grace != tc.want || *grace <= tc.drain {
				t.Errorf("terminationGracePeriodSeconds = %v, want %d (more than the %d s drain)", grace, tc.want, tc.drain)
			}
			if got := rendered.configMap.Data["SIDECAR_DRAIN_TIMEOUT"]; got != fmt.Sprint(tc.drain) {
				t.Errorf("SIDECAR_DRAIN_TIMEOUT = %q, want %d", got, tc.drain)
			}
			preStop := rendered.sidecar(t).Lifecycle
			if preStop == nil || preStop.PreStop == nil || preStop.PreStop.Exec == nil ||
				!slices.Equal(preStop.PreStop.Exec.Command[:1], []string{"/bin/sleep"}) {
				t.Errorf("the sidecar has no preStop delay: %+v", preStop)
			}
		})
	}
}

func TestTheAppAttachesToTheSidecarOnTheLoopback(t *testing.T) {
	for _, tc := range []struct {
		name        string
		values      string
		address     string
		listen      string
		servicePort bool
	}{
		{"by default gRPC stays inside the pod", ``, "127.0.0.1:50051", "127.0.0.1:50051", false},
		{"on another gRPC port", `sidecar: {ports: {grpc: 6000}}`, "127.0.0.1:6000", "127.0.0.1:6000", false},
		{"exposing Admin, gRPC listens on every address and the Service has it",
			`service: {exposeAdmin: true}`, "127.0.0.1:50051", "0.0.0.0:50051", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rendered := render(t, valuesFromYAML(t, tc.values))
			if variable, ok := env(rendered.container(t, "app"), "SIDECAR_ADDRESS"); !ok || variable.Value != tc.address {
				t.Errorf("the app's SIDECAR_ADDRESS = %+v, want %s", variable, tc.address)
			}
			if got := rendered.configMap.Data["SIDECAR_GRPC_ADDRESS"]; got != tc.listen {
				t.Errorf("SIDECAR_GRPC_ADDRESS = %q, want %s", got, tc.listen)
			}
			hasGRPC := slices.ContainsFunc(rendered.service.Spec.Ports, func(port corev1.ServicePort) bool { return port.Name == "grpc" })
			if hasGRPC != tc.servicePort {
				t.Errorf("the Service has a grpc port: %v, want %v", hasGRPC, tc.servicePort)
			}
		})
	}
}

func TestTheAdminTokenComesFromAnExistingSecret(t *testing.T) {
	sidecar := render(t, valuesFromYAML(t, `sidecar: {adminToken: {existingSecret: admin, key: bearer}}`)).sidecar(t)
	variable, ok := env(sidecar, "SIDECAR_ADMIN_TOKEN")
	if !ok || variable.ValueFrom == nil || variable.ValueFrom.SecretKeyRef == nil ||
		variable.ValueFrom.SecretKeyRef.Name != "admin" || variable.ValueFrom.SecretKeyRef.Key != "bearer" {
		t.Errorf("SIDECAR_ADMIN_TOKEN = %+v", variable)
	}
}

func TestTheClusterValuesWireTheIngressServiceMonitorAndAutoscaler(t *testing.T) {
	rendered := render(t, clusterValues(t))
	annotations := rendered.ingress.Annotations
	for name, want := range map[string]string{
		"nginx.ingress.kubernetes.io/proxy-read-timeout":      "3600",
		"nginx.ingress.kubernetes.io/proxy-send-timeout":      "3600",
		"nginx.ingress.kubernetes.io/proxy-buffering":         "off",
		"nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
	} {
		if annotations[name] != want {
			t.Errorf("Ingress annotation %s = %q, want %q", name, annotations[name], want)
		}
	}
	path := rendered.ingress.Spec.Rules[0].HTTP.Paths[0]
	if path.Path != "/socket.io/" || path.Backend.Service.Name != rendered.service.Name || path.Backend.Service.Port.Name != "socketio" {
		t.Errorf("Ingress path = %+v", path)
	}
	endpoint := rendered.serviceMonitor.Spec.Endpoints[0]
	if endpoint.Port != "ops" || endpoint.Path != "/metrics" || rendered.serviceMonitor.Metadata.Labels["release"] != "prometheus" {
		t.Errorf("ServiceMonitor = %+v", rendered.serviceMonitor)
	}
	for name, value := range rendered.serviceMonitor.Spec.Selector.MatchLabels {
		if rendered.service.Labels[name] != value {
			t.Errorf("the ServiceMonitor selects %s=%s, which the Service lacks", name, value)
		}
	}
	if rendered.deployment.Spec.Replicas != nil {
		t.Error("with autoscaling the HPA, not the Deployment, owns the replica count")
	}
	if hpa := rendered.hpa.Spec; hpa.MinReplicas == nil || *hpa.MinReplicas != 3 || hpa.MaxReplicas != 12 ||
		hpa.ScaleTargetRef.Name != rendered.deployment.Name {
		t.Errorf("HPA = %+v", hpa)
	}
	if got := rendered.pdb.Spec.MinAvailable; got == nil || got.IntValue() != 2 || rendered.pdb.Spec.MaxUnavailable != nil {
		t.Errorf("PDB = %+v, want minAvailable 2", rendered.pdb.Spec)
	}
}

func TestThePodRunsAsNonRootWithAReadOnlySidecar(t *testing.T) {
	rendered := render(t, map[string]any{})
	pod := rendered.podSpec().SecurityContext
	if pod == nil || pod.RunAsNonRoot == nil || !*pod.RunAsNonRoot {
		t.Errorf("pod securityContext = %+v", pod)
	}
	sidecar := rendered.sidecar(t).SecurityContext
	if sidecar == nil || sidecar.ReadOnlyRootFilesystem == nil || !*sidecar.ReadOnlyRootFilesystem ||
		sidecar.AllowPrivilegeEscalation == nil || *sidecar.AllowPrivilegeEscalation {
		t.Errorf("sidecar securityContext = %+v", sidecar)
	}
	if rendered.pdb.Spec.MaxUnavailable == nil || rendered.pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("the default PDB lets one pod go at a time: %+v", rendered.pdb.Spec)
	}
}

func TestTheSchemaRefusesValuesTheChartDoesNotKnow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values string
		path   string
	}{
		{"an unknown top-level value", `replicas: 3`, "replicas"},
		{"an unknown sidecar value", `sidecar: {drainTimeout: 5}`, "drainTimeout"},
		{"a port that is not a number", `sidecar: {ports: {socketio: http}}`, "socketio"},
		{"a replica count that is a string", `replicaCount: "3"`, "replicaCount"},
		{"a sidecar option that does not exist", `sidecar: {config: {ping_intervall: 5}}`, "ping_intervall"},
		{"an option the chart sets itself", `sidecar: {config: {port: 6000}}`, "port"},
		{"a log format the sidecar does not know", `sidecar: {config: {log_format: xml}}`, "log_format"},
		{"seconds that are not a number", `sidecar: {config: {ping_interval: soon}}`, "ping_interval"},
		{"a Redis URL of another scheme", `cluster: {enabled: true, redisUrl: "http://redis:6379"}`, "redisUrl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderChart(t, valuesFromYAML(t, tc.values), kubeVersion)
			if err == nil {
				t.Fatalf("%s rendered", tc.values)
			}
			if !strings.Contains(err.Error(), "schema") || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("the error does not name %s as a schema violation: %v", tc.path, err)
			}
		})
	}
}

func TestClusterModeWithoutARedisURLFailsClearly(t *testing.T) {
	_, err := renderChart(t, valuesFromYAML(t, `cluster: {enabled: true}`), kubeVersion)
	if err == nil || !strings.Contains(err.Error(), "cluster.redisUrl") {
		t.Fatalf("err = %v, want one naming cluster.redisUrl", err)
	}
}

// The chart sets these options from its structured values; every other flag of the sidecar must
// be allowed in sidecar.config by values.schema.json.
var optionsSetByTheChart = []string{
	"port", "grpc_address", "ops_port", "drain_timeout", "redis_url", "channel",
	"advertise_address", "admin_token_file", "node_id",
}

func TestEverySidecarFlagIsSettableThroughTheChart(t *testing.T) {
	source, err := os.ReadFile(optionsSource)
	if err != nil {
		t.Fatal(err)
	}
	var flags []string
	for _, match := range regexp.MustCompile(`ABSL_FLAG\(\s*[\w:]+\s*,\s*(\w+)\s*,`).FindAllSubmatch(source, -1) {
		flags = append(flags, string(match[1]))
	}
	if len(flags) < 20 {
		t.Fatalf("found only %d flags in %s: %v", len(flags), optionsSource, flags)
	}
	var schema struct {
		Properties struct {
			Sidecar struct {
				Properties struct {
					Config struct {
						Properties map[string]any `json:"properties"`
					} `json:"config"`
				} `json:"properties"`
			} `json:"sidecar"`
		} `json:"properties"`
	}
	text, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(text, &schema); err != nil {
		t.Fatal(err)
	}
	allowed := schema.Properties.Sidecar.Properties.Config.Properties
	for _, flag := range flags {
		_, inConfig := allowed[flag]
		setByChart := slices.Contains(optionsSetByTheChart, flag)
		switch {
		case !inConfig && !setByChart:
			t.Errorf("--%s cannot be set through the chart: add it to sidecar.config in values.schema.json", flag)
		case inConfig && setByChart:
			t.Errorf("--%s is both set by the chart and allowed in sidecar.config", flag)
		}
	}
	for name := range allowed {
		if !slices.Contains(flags, name) {
			t.Errorf("values.schema.json allows sidecar.config.%s, which is no flag of the sidecar", name)
		}
	}
}
