package main

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/incident-mcp/incident-mcp/internal/telemetry"
)

// The manifests under deploy/ as far as these checks read them.
type (
	container struct {
		Name  string   `yaml:"name"`
		Image string   `yaml:"image"`
		Args  []string `yaml:"args"`
		Env   []struct {
			Name  string `yaml:"name"`
			Value string `yaml:"value"`
		} `yaml:"env"`
		EnvFrom []struct {
			SecretRef struct {
				Name string `yaml:"name"`
			} `yaml:"secretRef"`
		} `yaml:"envFrom"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		LivenessProbe  probeSpec `yaml:"livenessProbe"`
		ReadinessProbe probeSpec `yaml:"readinessProbe"`
		Resources      struct {
			Requests map[string]string `yaml:"requests"`
		} `yaml:"resources"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
	probeSpec struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
	manifest struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		StringData map[string]string `yaml:"stringData"`
		Spec       struct {
			Replicas int            `yaml:"replicas"`
			Selector map[string]any `yaml:"selector"`
			Ports    []struct {
				Name       string `yaml:"name"`
				TargetPort string `yaml:"targetPort"`
			} `yaml:"ports"`
			Template struct {
				Metadata struct {
					Labels map[string]string `yaml:"labels"`
				} `yaml:"metadata"`
				Spec struct {
					TerminationGracePeriodSeconds int         `yaml:"terminationGracePeriodSeconds"`
					Containers                    []container `yaml:"containers"`
					Volumes                       []struct {
						Name   string `yaml:"name"`
						Secret struct {
							SecretName string `yaml:"secretName"`
							Items      []struct {
								Key  string `yaml:"key"`
								Path string `yaml:"path"`
							} `yaml:"items"`
						} `yaml:"secret"`
					} `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
)

func readManifests(t *testing.T) map[string]manifest {
	t.Helper()
	files, _ := filepath.Glob("../../deploy/*.yaml")
	if len(files) == 0 {
		t.Fatal("no manifests under deploy/")
	}
	out := map[string]manifest{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(fh)
		for {
			var m manifest
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out[m.Kind] = m
		}
		fh.Close()
	}
	return out
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return p
}

// TestDeployManifests: the manifests run the binary as its flags say:
// every argument parses, the named ports are the ports it listens on, the
// probes hit paths it serves, and the Secret feeds what it reads.
func TestDeployManifests(t *testing.T) {
	ms := readManifests(t)
	dep, svc, sec := ms["Deployment"], ms["Service"], ms["Secret"]
	if dep.Spec.Replicas != 2 {
		t.Errorf("replicas %d, want 2", dep.Spec.Replicas)
	}
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("containers: %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	o, err := parseFlags(c.Args, io.Discard)
	if err != nil {
		t.Fatalf("container args do not parse: %v", err)
	}
	ports := map[string]string{}
	for _, p := range c.Ports {
		ports[p.Name] = itoa(p.ContainerPort)
	}
	if ports["http"] != portOf(t, o.httpAddr) {
		t.Errorf("port http %s, --http %s", ports["http"], o.httpAddr)
	}
	if ports["metrics"] != portOf(t, o.http.metricsAddr) {
		t.Errorf("port metrics %s, --metrics-addr %s", ports["metrics"], o.http.metricsAddr)
	}
	if grace := o.http.shutdownGrace.Seconds(); float64(pod.TerminationGracePeriodSeconds) <= grace {
		t.Errorf("terminationGracePeriodSeconds %d must exceed --shutdown-grace %v", pod.TerminationGracePeriodSeconds, o.http.shutdownGrace)
	}

	// The probes' paths are served on the port they name.
	tokensFlag := o.http.tokensFile
	tokens := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(tokens, []byte("probe 0123456789abcdef0123\n"), 0o600)
	o.http.tokensFile = tokens
	cfg, err := o.http.httpConfig(o.httpAddr, nil, telemetry.NewMetrics(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("the container's flags are refused: %v", err)
	}
	for name, p := range map[string]probeSpec{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p.HTTPGet.Port != "http" || cfg.Public[p.HTTPGet.Path] == nil {
			t.Errorf("%s probe %s on port %s: not served there", name, p.HTTPGet.Path, p.HTTPGet.Port)
		}
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes: %s, %s", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" {
		t.Error("no resource requests")
	}

	// The tokens file is the Secret's "tokens" key, mounted where the flag points.
	mounted := false
	for _, v := range pod.Volumes {
		for _, it := range v.Secret.Items {
			if v.Secret.SecretName != sec.Metadata.Name || it.Key != "tokens" {
				continue
			}
			for _, vm := range c.VolumeMounts {
				if vm.Name == v.Name && path.Join(vm.MountPath, it.Path) == tokensFlag {
					mounted = true
				}
			}
		}
	}
	if !mounted {
		t.Error("--http-tokens-file does not point at the mounted Secret key")
	}
	if _, ok := sec.StringData["tokens"]; !ok {
		t.Error("the Secret has no tokens")
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef.Name != sec.Metadata.Name {
		t.Errorf("envFrom does not name the Secret %q", sec.Metadata.Name)
	}
	for k := range sec.StringData {
		if k != "tokens" && !strings.Contains(envHelp(), k) {
			t.Errorf("Secret key %s is no variable the binary reads", k)
		}
	}
	if _, ok := sec.StringData["INCIDENT_MCP_SECRET"]; !ok {
		t.Error("replicas need the shared INCIDENT_MCP_SECRET")
	}

	// The Service selects the pods and targets named container ports.
	sel, _ := svc.Spec.Selector["app.kubernetes.io/name"].(string)
	if sel == "" || dep.Spec.Template.Metadata.Labels["app.kubernetes.io/name"] != sel {
		t.Errorf("Service selector %v does not match the pod labels", svc.Spec.Selector)
	}
	for _, p := range svc.Spec.Ports {
		if _, ok := ports[p.TargetPort]; !ok {
			t.Errorf("Service port %s targets %q, which the container does not name", p.Name, p.TargetPort)
		}
	}

	// The image tag is the version server.json publishes.
	var sj struct {
		Name     string `json:"name"`
		Version  string `json:"version"`
		Packages []struct {
			RegistryType string `json:"registryType"`
			Identifier   string `json:"identifier"`
			Transport    struct {
				Type string `json:"type"`
			} `json:"transport"`
		} `json:"packages"`
		Remotes []struct {
			Type string `json:"type"`
			URL  string `json:"url"`
		} `json:"remotes"`
	}
	b, err := os.ReadFile("../../server.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sj); err != nil {
		t.Fatalf("server.json: %v", err)
	}
	if len(sj.Packages) != 1 || sj.Packages[0].Identifier != c.Image || !strings.HasSuffix(c.Image, ":"+sj.Version) || sj.Packages[0].Transport.Type != "stdio" {
		t.Errorf("server.json package %+v, version %s; deployment image %s", sj.Packages, sj.Version, c.Image)
	}
	if len(sj.Remotes) != 1 || sj.Remotes[0].Type != "streamable-http" || !strings.HasSuffix(sj.Remotes[0].URL, "/mcp") {
		t.Errorf("server.json remotes: %+v", sj.Remotes)
	}
}

// TestDockerfile: the image runs as non-root, exposes the ports the
// default command listens on, and its health check uses a served path.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{"USER nonroot", "CGO_ENABLED=0", "EXPOSE 8080 9090", `"--probe", "http://127.0.0.1:8080/healthz"`, "FROM gcr.io/distroless/static"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	var cmd []string
	for _, l := range strings.Split(df, "\n") {
		if rest, ok := strings.CutPrefix(l, "CMD "); ok {
			if err := json.Unmarshal([]byte(rest), &cmd); err != nil {
				t.Fatal(err)
			}
		}
	}
	o, err := parseFlags(cmd, io.Discard)
	if err != nil {
		t.Fatalf("CMD does not parse: %v", err)
	}
	if portOf(t, o.httpAddr) != "8080" || portOf(t, o.http.metricsAddr) != "9090" {
		t.Errorf("CMD listens on %s and %s", o.httpAddr, o.http.metricsAddr)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
