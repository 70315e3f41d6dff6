// Package helm checks the Helm chart: `helm lint --strict` and `helm template` for the default
// and the cluster values, each rendered manifest decoded strictly into its Kubernetes API type
// (an unknown field fails), and what the manifests must say.
package helm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const chart = "../../helm/socketio-sidecar"

// helmBinary finds helm: $HELM, then PATH, then $GOPATH/bin (scripts/setup.sh installs it there
// with `go install`).
func helmBinary(t *testing.T) string {
	t.Helper()
	if path := os.Getenv("HELM"); path != "" {
		return path
	}
	if path, err := exec.LookPath("helm"); err == nil {
		return path
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		path := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "helm")
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	t.Fatal("helm not found: run scripts/setup.sh (go install helm.sh/helm/v3/cmd/helm)")
	return ""
}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	command := exec.Command(helmBinary(t), args...)
	command.Stdout, command.Stderr = &stdout, &stderr
	err := command.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// strict decodes YAML into out, failing on fields the type does not have.
func strict(document []byte, out any) error {
	asJSON, err := yaml.YAMLToJSON(document)
	if err != nil {
		return err
	}
	decoder := json.NewDecoder(bytes.NewReader(asJSON))
	decoder.DisallowUnknownFields()
	return decoder.Decode(out)
}

// serviceMonitor holds the fields of monitoring.coreos.com/v1 ServiceMonitor the chart uses.
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

type rendered struct {
	deployment     *appsv1.Deployment
	configMap      *corev1.ConfigMap
	services       []*corev1.Service
	ingress        *networkingv1.Ingress
	pdb            *policyv1.PodDisruptionBudget
	hpa            *autoscalingv2.HorizontalPodAutoscaler
	serviceMonitor *serviceMonitor
	kinds          []string
}

func render(t *testing.T, args ...string) rendered {
	t.Helper()
	out, err := helm(t, append([]string{"template", "release", chart, "--kube-version", "1.30.0"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var r rendered
	for _, document := range strings.Split(out, "\n---\n") {
		var meta struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(document), &meta); err != nil {
			t.Fatalf("not YAML: %v\n%s", err, document)
		}
		if meta.Kind == "" {
			continue
		}
		r.kinds = append(r.kinds, meta.Kind)
		var target any
		switch meta.Kind {
		case "Deployment":
			r.deployment = &appsv1.Deployment{}
			target = r.deployment
		case "ConfigMap":
			r.configMap = &corev1.ConfigMap{}
			target = r.configMap
		case "Service":
			service := &corev1.Service{}
			r.services = append(r.services, service)
			target = service
		case "Ingress":
			r.ingress = &networkingv1.Ingress{}
			target = r.ingress
		case "PodDisruptionBudget":
			r.pdb = &policyv1.PodDisruptionBudget{}
			target = r.pdb
		case "HorizontalPodAutoscaler":
			r.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
			target = r.hpa
		case "ServiceMonitor":
			r.serviceMonitor = &serviceMonitor{}
			target = r.serviceMonitor
		case "ServiceAccount":
			target = &corev1.ServiceAccount{}
		default:
			t.Fatalf("unexpected kind %s", meta.Kind)
		}
		if err := strict([]byte(document), target); err != nil {
			t.Fatalf("%s does not decode strictly: %v\n%s", meta.Kind, err, document)
		}
	}
	if r.deployment == nil || r.configMap == nil || len(r.services) == 0 {
		t.Fatalf("missing Deployment, ConfigMap or Service in %v", r.kinds)
	}
	return r
}

func sidecarContainer(t *testing.T, spec corev1.PodSpec) corev1.Container {
	t.Helper()
	for _, container := range append(spec.InitContainers, spec.Containers...) {
		if container.Name == "socketio-sidecar" {
			return container
		}
	}
	t.Fatal("no socketio-sidecar container")
	return corev1.Container{}
}

func envValue(container corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, env := range container.Env {
		if env.Name == name {
			return env, true
		}
	}
	return corev1.EnvVar{}, false
}

func TestLintPassesStrictlyForDefaultAndClusterValues(t *testing.T) {
	for _, args := range [][]string{nil, {"-f", chart + "/ci/cluster-values.yaml"}} {
		if _, err := helm(t, append([]string{"lint", "--strict", chart}, args...)...); err != nil {
			t.Error(err)
		}
	}
}

func TestDefaultValuesRenderASidecarBesideTheApp(t *testing.T) {
	r := render(t)
	spec := r.deployment.Spec.Template.Spec
	if len(spec.InitContainers) != 0 || len(spec.Containers) != 2 {
		t.Fatalf("want app + sidecar containers, got %d init, %d", len(spec.InitContainers), len(spec.Containers))
	}
	sidecar := sidecarContainer(t, spec)
	if probe := sidecar.ReadinessProbe; probe == nil || probe.HTTPGet.Path != "/readyz" || probe.HTTPGet.Port.String() != "ops" {
		t.Errorf("readiness probe = %+v", probe)
	}
	if probe := sidecar.LivenessProbe; probe == nil || probe.HTTPGet.Path != "/healthz" || probe.HTTPGet.Port.String() != "ops" {
		t.Errorf("liveness probe = %+v", probe)
	}
	if sidecar.Lifecycle == nil || sidecar.Lifecycle.PreStop == nil || sidecar.Lifecycle.PreStop.Exec == nil {
		t.Error("the sidecar has no preStop delay")
	}
	if grace := spec.TerminationGracePeriodSeconds; grace == nil || *grace <= 20+5 {
		t.Errorf("terminationGracePeriodSeconds = %v, must exceed the preStop delay plus the 20 s drain", grace)
	}
	var app corev1.Container
	for _, container := range spec.Containers {
		if container.Name == "app" {
			app = container
		}
	}
	if env, ok := envValue(app, "SIDECAR_ADDRESS"); !ok || env.Value != "127.0.0.1:50051" {
		t.Errorf("the app's SIDECAR_ADDRESS = %+v", env)
	}
	data := r.configMap.Data
	for key, want := range map[string]string{
		"SIDECAR_GRPC_ADDRESS": "127.0.0.1:50051", "SIDECAR_LOG_FORMAT": "json", "SIDECAR_DRAIN_TIMEOUT": "20",
		"SIDECAR_OPS_PORT": "8081", "SIDECAR_PORT": "5000",
	} {
		if data[key] != want {
			t.Errorf("ConfigMap %s = %q, want %q", key, data[key], want)
		}
	}
	if _, ok := data["SIDECAR_REDIS_URL"]; ok {
		t.Error("no Redis without cluster mode")
	}
	if r.pdb == nil || r.hpa != nil || r.ingress != nil || r.serviceMonitor != nil {
		t.Errorf("optional objects by default: %v", r.kinds)
	}
}

func TestClusterValuesRenderEveryOptionalObject(t *testing.T) {
	r := render(t, "-f", chart+"/ci/cluster-values.yaml")
	spec := r.deployment.Spec.Template.Spec
	sidecar := sidecarContainer(t, spec)
	if len(spec.InitContainers) != 1 || sidecar.RestartPolicy == nil || *sidecar.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("a native sidecar is an init container with restartPolicy Always: %+v", spec.InitContainers)
	}
	if env, ok := envValue(sidecar, "SIDECAR_REDIS_URL"); !ok || env.Value != "redis://redis.default.svc:6379" {
		t.Errorf("SIDECAR_REDIS_URL = %+v", env)
	}
	if env, ok := envValue(sidecar, "SIDECAR_ADVERTISE_ADDRESS"); !ok || env.Value != "$(POD_IP):5000" {
		t.Errorf("SIDECAR_ADVERTISE_ADDRESS = %+v", env)
	}
	if env, ok := envValue(sidecar, "POD_IP"); !ok || env.ValueFrom == nil || env.ValueFrom.FieldRef.FieldPath != "status.podIP" {
		t.Errorf("POD_IP = %+v", env)
	}
	if env, ok := envValue(sidecar, "SIDECAR_ADMIN_TOKEN"); !ok || env.ValueFrom == nil || env.ValueFrom.SecretKeyRef.Name != "socketio-admin" {
		t.Errorf("SIDECAR_ADMIN_TOKEN = %+v", env)
	}
	for key, want := range map[string]string{
		"SIDECAR_PING_INTERVAL": "20", "SIDECAR_CORS_ALLOWED_ORIGINS": "https://chat.example.com",
		"SIDECAR_MAX_OUTBOUND_QUEUE": "2000", "SIDECAR_CHANNEL": "chat", "SIDECAR_GRPC_ADDRESS": "0.0.0.0:50051",
	} {
		if got := r.configMap.Data[key]; got != want {
			t.Errorf("ConfigMap %s = %q, want %q", key, got, want)
		}
	}
	if grace := *spec.TerminationGracePeriodSeconds; grace <= 30+5 {
		t.Errorf("terminationGracePeriodSeconds = %d, must exceed 35", grace)
	}
	if r.deployment.Spec.Replicas != nil {
		t.Error("with autoscaling the HPA owns the replica count")
	}
	if r.hpa == nil || r.hpa.Spec.MinReplicas == nil || *r.hpa.Spec.MinReplicas != 3 || r.hpa.Spec.MaxReplicas != 12 {
		t.Errorf("hpa = %+v", r.hpa)
	}
	if r.ingress == nil || r.ingress.Spec.Rules[0].Host != "chat.example.com" ||
		r.ingress.Annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "" {
		t.Errorf("ingress = %+v", r.ingress)
	}
	if r.serviceMonitor == nil || r.serviceMonitor.Spec.Endpoints[0].Path != "/metrics" || r.serviceMonitor.Spec.Endpoints[0].Port != "ops" {
		t.Errorf("serviceMonitor = %+v", r.serviceMonitor)
	}
	ports := map[string]bool{}
	for _, port := range r.services[0].Spec.Ports {
		ports[port.Name] = true
	}
	if !ports["socketio"] || !ports["grpc"] || !ports["ops"] {
		t.Errorf("service ports = %v", ports)
	}
}

func TestTheSchemaRefusesUnknownAndMistypedValues(t *testing.T) {
	for _, tc := range []struct{ name, set string }{
		{"an unknown top-level value", "replicas=3"},
		{"an unknown sidecar value", "sidecar.drainTimeout=5"},
		{"a port of the wrong type", "sidecar.ports.socketio=http"},
		{"a log format it does not know", "sidecar.logFormat=xml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := helm(t, "template", "release", chart, "--kube-version", "1.30.0", "--set", tc.set); err == nil {
				t.Fatalf("--set %s rendered", tc.set)
			}
		})
	}
}

func TestClusterModeWithoutARedisURLFailsClearly(t *testing.T) {
	_, err := helm(t, "template", "release", chart, "--kube-version", "1.30.0", "--set", "cluster.enabled=true")
	if err == nil || !strings.Contains(err.Error(), "cluster.redisUrl") {
		t.Fatalf("err = %v", err)
	}
}
