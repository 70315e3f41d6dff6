package helm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

var (
	helmOnce   sync.Once
	helmPath   string
	helmErr    error
	helmBinDir string
)

// helmCommand builds the helm command of the Helm module this module requires (go.mod names it
// as a tool), once per test run; Go's build cache makes later builds a link step.
func helmCommand(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not building the helm command")
	}
	helmOnce.Do(func() {
		goCommand, err := exec.LookPath("go")
		if err != nil {
			goCommand = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		helmBinDir, helmErr = os.MkdirTemp("", "socketio-sidecar-helm-")
		if helmErr != nil {
			return
		}
		helmPath = filepath.Join(helmBinDir, "helm")
		output, err := exec.Command(goCommand, "build", "-o", helmPath, "helm.sh/helm/v3/cmd/helm").CombinedOutput()
		if err != nil {
			helmErr = fmt.Errorf("go build helm.sh/helm/v3/cmd/helm: %w\n%s", err, output)
		}
	})
	if helmErr != nil {
		t.Fatal(helmErr)
	}
	return helmPath
}

// TestMain removes the helm command built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if helmBinDir != "" {
		os.RemoveAll(helmBinDir)
	}
	os.Exit(code)
}

func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	command := exec.Command(helmCommand(t), args...)
	command.Stdout, command.Stderr = &stdout, &stderr
	if err := command.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

func TestTheHelmCommandLintsAndRendersTheChartAsTheLibraryDoes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		values func(t *testing.T) map[string]any
	}{
		{"with the default values", nil, func(*testing.T) map[string]any { return map[string]any{} }},
		{"with ci/cluster-values.yaml", []string{"-f", clusterValuesFile}, clusterValues},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := runHelm(t, append([]string{"lint", "--strict", chartDir, "--kube-version", kubeVersion}, tc.args...)...); err != nil {
				t.Error(err)
			}
			output, err := runHelm(t, append([]string{"template", "release", chartDir, "--kube-version", kubeVersion}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			var fromCommand manifests
			for _, document := range strings.Split(output, "\n---") {
				decodeDocument(t, "helm template", []byte(document), &fromCommand)
			}
			sort.Strings(fromCommand.kinds)
			if want := render(t, tc.values(t)).kinds; !slices.Equal(fromCommand.kinds, want) {
				t.Errorf("helm template renders %v, the library %v", fromCommand.kinds, want)
			}
		})
	}
}

func TestTheHelmCommandRefusesValuesTheSchemaRefuses(t *testing.T) {
	for _, set := range []string{"replicas=3", "sidecar.ports.socketio=http"} {
		t.Run(set, func(t *testing.T) {
			if _, err := runHelm(t, "template", "release", chartDir, "--kube-version", kubeVersion, "--set", set); err == nil {
				t.Errorf("helm template --set %s rendered", set)
			}
		})
	}
}
