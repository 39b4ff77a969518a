package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/waybill/waybill/kit/grpcserver"
)

// object is the part of a Kubernetes object these rules read; kubeconform checks the
// rest against the schemas.
type object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec       json.RawMessage   `json:"spec"`
	Data       map[string]string `json:"data"`
	StringData map[string]string `json:"stringData"`
	file       string
}

type labelSelector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

type podTemplate struct {
	Metadata struct {
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		ServiceAccountName string      `json:"serviceAccountName"`
		Containers         []container `json:"containers"`
	} `json:"spec"`
}

type container struct {
	Name  string   `json:"name"`
	Image string   `json:"image"`
	Args  []string `json:"args"`
	Ports []struct {
		Name          string `json:"name"`
		ContainerPort int    `json:"containerPort"`
	} `json:"ports"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `json:"name"`
		} `json:"configMapRef"`
	} `json:"envFrom"`
	Env []struct {
		Name      string `json:"name"`
		Value     string `json:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name     string `json:"name"`
				Key      string `json:"key"`
				Optional bool   `json:"optional"`
			} `json:"secretKeyRef"`
		} `json:"valueFrom"`
	} `json:"env"`
	ReadinessProbe *probe `json:"readinessProbe"`
	LivenessProbe  *probe `json:"livenessProbe"`
	Resources      struct {
		Requests map[string]any `json:"requests"`
		Limits   map[string]any `json:"limits"`
	} `json:"resources"`
}

type probe struct {
	GRPC *struct {
		Port    int    `json:"port"`
		Service string `json:"service"`
	} `json:"grpc"`
	HTTPGet *struct {
		Port any `json:"port"`
	} `json:"httpGet"`
	Exec *struct{} `json:"exec"`
}

type workloadSpec struct {
	Replicas *int          `json:"replicas"`
	Selector labelSelector `json:"selector"`
	Template podTemplate   `json:"template"`
}

type serviceSpec struct {
	Selector map[string]string `json:"selector"`
	Ports    []struct {
		Name       string `json:"name"`
		Port       int    `json:"port"`
		TargetPort any    `json:"targetPort"`
	} `json:"ports"`
}

type hpaSpec struct {
	ScaleTargetRef struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	} `json:"scaleTargetRef"`
	MinReplicas *int `json:"minReplicas"`
	MaxReplicas int  `json:"maxReplicas"`
}

type pdbSpec struct {
	Selector       labelSelector `json:"selector"`
	MaxUnavailable any           `json:"maxUnavailable"`
	MinAvailable   any           `json:"minAvailable"`
}

// load reads every Kubernetes object of the *.yaml files in dirs (kustomization.yaml
// aside).
func load(t *testing.T, dirs ...string) []object {
	t.Helper()
	var objs []object
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no manifests in %s (%v)", dir, err)
		}
		for _, f := range files {
			if filepath.Base(f) == "kustomization.yaml" {
				continue
			}
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			objs = append(objs, parse(t, f, raw)...)
		}
	}
	return objs
}

// parse reads the objects of a multi-document YAML stream named file.
func parse(t *testing.T, file string, raw []byte) []object {
	t.Helper()
	var objs []object
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(raw), -1) {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if o.Kind == "" {
			continue // comments only
		}
		o.file = file
		objs = append(objs, o)
	}
	return objs
}

func spec[T any](o object) T {
	var s T
	_ = json.Unmarshal(o.Spec, &s)
	return s
}

// selects reports whether sel (non-empty) selects labels.
func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// rules holds what the checks need to know beyond the objects.
type rules struct {
	services []string        // the mesh's services, each deployed by name
	flags    map[string]bool // every flag name some process has
}

// check returns every broken rule among objs.
func check(objs []object, r rules) []string {
	var problems []string
	bad := func(o object, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s %s/%s: %s", filepath.Base(o.file), o.Kind, o.Metadata.Name, fmt.Sprintf(format, args...)))
	}
	byKind := map[string]map[string]object{}
	for _, o := range objs {
		if byKind[o.Kind] == nil {
			byKind[o.Kind] = map[string]object{}
		}
		if _, dup := byKind[o.Kind][o.Metadata.Name]; dup {
			bad(o, "defined twice")
		}
		byKind[o.Kind][o.Metadata.Name] = o
	}
	mesh, hasMesh := byKind["ConfigMap"]["waybill-mesh"]

	// Every service (and the gateway) runs as a Deployment of that name running
	// `waybill serve <name>`.
	for _, name := range append(slices.Clone(r.services), "gateway") {
		d, ok := byKind["Deployment"][name]
		if !ok {
			problems = append(problems, fmt.Sprintf("service %s: no Deployment", name))
			continue
		}
		ws := spec[workloadSpec](d)
		if len(ws.Template.Spec.Containers) == 0 || len(ws.Template.Spec.Containers[0].Args) < 2 ||
			!slices.Equal(ws.Template.Spec.Containers[0].Args[:2], []string{"serve", name}) {
			bad(d, "its first container does not run `serve %s`", name)
		}
		if _, ok := byKind["HorizontalPodAutoscaler"][name]; !ok {
			bad(d, "no HorizontalPodAutoscaler")
		}
		if _, ok := byKind["PodDisruptionBudget"][name]; !ok {
			bad(d, "no PodDisruptionBudget")
		}
		if name == "gateway" {
			continue
		}
		if _, ok := byKind["Service"][name]; !ok {
			bad(d, "no Service")
		}
		if _, ok := byKind["StatefulSet"][name+"-db"]; !ok {
			bad(d, "no PostgreSQL of its own (StatefulSet %s-db)", name)
		}
		if _, ok := byKind["NetworkPolicy"][name+"-db"]; !ok {
			bad(d, "no NetworkPolicy for %s-db", name)
		}
		if hasMesh {
			want := "dns:///" + name + ":7000"
			if got := mesh.Data["WAYBILL_"+strings.ToUpper(name)+"_ADDR"]; got != want {
				bad(mesh, "WAYBILL_%s_ADDR = %q, want %q", strings.ToUpper(name), got, want)
			}
		}
	}
	if !hasMesh {
		problems = append(problems, "no ConfigMap waybill-mesh")
	}

	for _, o := range objs {
		switch o.Kind {
		case "Deployment", "StatefulSet":
			ws := spec[workloadSpec](o)
			if !selects(ws.Selector.MatchLabels, ws.Template.Metadata.Labels) {
				bad(o, "selector %v does not select its pods' labels %v", ws.Selector.MatchLabels, ws.Template.Metadata.Labels)
			}
			if sa := ws.Template.Spec.ServiceAccountName; sa != "" {
				if _, ok := byKind["ServiceAccount"][sa]; !ok {
					bad(o, "service account %s is not defined", sa)
				}
			}
			for _, c := range ws.Template.Spec.Containers {
				ports := map[string]int{}
				for _, p := range c.Ports {
					ports[p.Name] = p.ContainerPort
				}
				if c.ReadinessProbe == nil || c.LivenessProbe == nil {
					bad(o, "container %s: readiness and liveness probes required", c.Name)
				}
				for _, p := range []*probe{c.ReadinessProbe, c.LivenessProbe} {
					switch {
					case p == nil:
					case p.GRPC != nil:
						if p.GRPC.Port != ports["grpc"] {
							bad(o, "container %s: gRPC probe on port %d, but its grpc port is %d", c.Name, p.GRPC.Port, ports["grpc"])
						}
					case p.HTTPGet != nil:
						if !portExists(p.HTTPGet.Port, ports) {
							bad(o, "container %s: HTTP probe on port %v, which it does not expose", c.Name, p.HTTPGet.Port)
						}
					case p.Exec != nil:
					default:
						bad(o, "container %s: a probe without an action", c.Name)
					}
				}
				// A service's probes ask gRPC health (kit/grpcserver); only the gateway,
				// which has no gRPC server, and databases probe otherwise.
				if o.Kind == "Deployment" && o.Metadata.Name != "gateway" {
					if c.ReadinessProbe == nil || c.ReadinessProbe.GRPC == nil || c.LivenessProbe == nil || c.LivenessProbe.GRPC == nil {
						bad(o, "container %s: readiness and liveness must be gRPC health probes", c.Name)
					} else {
						// Liveness must not follow the database (a restart would not bring it
						// back): it asks the service that only says the process answers.
						if got := c.LivenessProbe.GRPC.Service; got != grpcserver.LivenessService {
							bad(o, "container %s: liveness probe asks gRPC health service %q, want %q", c.Name, got, grpcserver.LivenessService)
						}
						if got := c.ReadinessProbe.GRPC.Service; got != "" {
							bad(o, "container %s: readiness probe asks gRPC health service %q, want the server's overall status (\"\")", c.Name, got)
						}
					}
				}
				for _, k := range []string{"cpu", "memory"} {
					if c.Resources.Requests[k] == nil {
						bad(o, "container %s: no %s request", c.Name, k)
					}
				}
				if c.Resources.Limits["memory"] == nil {
					bad(o, "container %s: no memory limit", c.Name)
				}
				for _, ef := range c.EnvFrom {
					if ef.ConfigMapRef != nil {
						if _, ok := byKind["ConfigMap"][ef.ConfigMapRef.Name]; !ok {
							bad(o, "container %s: ConfigMap %s is not defined", c.Name, ef.ConfigMapRef.Name)
						}
					}
				}
				for _, e := range c.Env {
					if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !e.ValueFrom.SecretKeyRef.Optional {
						ref := e.ValueFrom.SecretKeyRef
						s, ok := byKind["Secret"][ref.Name]
						if _, has := s.StringData[ref.Key]; !ok || !has {
							bad(o, "container %s: %s reads secret %s key %s, which deploy/examples/secrets.yaml does not show", c.Name, e.Name, ref.Name, ref.Key)
						}
					}
					if o.Kind == "Deployment" && !r.isSetting(e.Name) {
						bad(o, "container %s: %s configures no flag of any process", c.Name, e.Name)
					}
				}
			}
		case "ConfigMap":
			for k := range o.Data {
				if !r.isSetting(k) {
					bad(o, "%s configures no flag of any process", k)
				}
			}
		case "Service":
			ss := spec[serviceSpec](o)
			var target *workloadSpec
			for _, kind := range []string{"Deployment", "StatefulSet"} {
				for _, w := range byKind[kind] {
					ws := spec[workloadSpec](w)
					if selects(ss.Selector, ws.Template.Metadata.Labels) {
						target = &ws
					}
				}
			}
			if target == nil {
				bad(o, "selector %v selects no pods", ss.Selector)
				continue
			}
			ports := map[string]int{}
			for _, c := range target.Template.Spec.Containers {
				for _, p := range c.Ports {
					ports[p.Name] = p.ContainerPort
				}
			}
			for _, p := range ss.Ports {
				tp := p.TargetPort
				if tp == nil {
					tp = float64(p.Port)
				}
				if !portExists(tp, ports) {
					bad(o, "port %s targets %v, which its pods do not expose", p.Name, tp)
				}
			}
		case "HorizontalPodAutoscaler":
			hs := spec[hpaSpec](o)
			d, ok := byKind[hs.ScaleTargetRef.Kind][hs.ScaleTargetRef.Name]
			if !ok {
				bad(o, "scales %s %s, which is not defined", hs.ScaleTargetRef.Kind, hs.ScaleTargetRef.Name)
				continue
			}
			if hs.MinReplicas == nil || *hs.MinReplicas < 2 || hs.MaxReplicas < *hs.MinReplicas {
				bad(o, "replicas must run from at least 2 (one may be disrupted) up to maxReplicas")
			}
			// Every replica opens up to WAYBILL_DB_MAX_CONNS connections: at the HPA's
			// maximum they must fit the service's PostgreSQL, with 10 to spare for the
			// administrator and migrations.
			ws := spec[workloadSpec](d)
			db, hasDB := byKind["StatefulSet"][hs.ScaleTargetRef.Name+"-db"]
			if !hasDB || len(ws.Template.Spec.Containers) == 0 {
				continue
			}
			conns := 20 // kit/serve's default --db-max-conns
			for _, e := range ws.Template.Spec.Containers[0].Env {
				switch e.Name {
				case "WAYBILL_DB_MAX_CONNS":
					conns, _ = strconv.Atoi(e.Value)
				case "WAYBILL_CONSUMER_PARTITIONS":
					// A consumer group's members beyond its partitions stay idle.
					if p, _ := strconv.Atoi(e.Value); p > 0 && hs.MaxReplicas > p {
						bad(o, "up to %d replicas, but only %d consumer partitions", hs.MaxReplicas, p)
					}
				}
			}
			limit := maxConnections(spec[workloadSpec](db))
			if hs.MaxReplicas*conns > limit-10 {
				bad(o, "%d replicas x %d connections = %d, over %s's max_connections %d less 10",
					hs.MaxReplicas, conns, hs.MaxReplicas*conns, db.Metadata.Name, limit)
			}
		case "PodDisruptionBudget":
			ps := spec[pdbSpec](o)
			n := 0
			for _, w := range byKind["Deployment"] {
				ws := spec[workloadSpec](w)
				if selects(ps.Selector.MatchLabels, ws.Template.Metadata.Labels) {
					n++
					if ws.Replicas == nil || *ws.Replicas < 2 {
						bad(o, "protects %s, which runs fewer than 2 replicas: it could block every node drain", w.Metadata.Name)
					}
				}
			}
			if n == 0 {
				bad(o, "selector %v selects no Deployment's pods", ps.Selector.MatchLabels)
			}
			if ps.MaxUnavailable == nil && ps.MinAvailable == nil {
				bad(o, "neither maxUnavailable nor minAvailable")
			}
		}
	}
	sort.Strings(problems)
	return problems
}

func portExists(p any, named map[string]int) bool {
	switch v := p.(type) {
	case string:
		_, ok := named[v]
		return ok
	case float64:
		for _, n := range named {
			if n == int(v) {
				return true
			}
		}
	}
	return false
}

// maxConnections reads -c max_connections=N from a PostgreSQL StatefulSet's arguments
// (PostgreSQL's default, 100, without it).
func maxConnections(ws workloadSpec) int {
	for _, c := range ws.Template.Spec.Containers {
		for _, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "max_connections="); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
	}
	return 100
}

// isSetting reports whether the environment variable name configures something: a flag
// of some process (kit/config: WAYBILL_<FLAG>, or <FLAG> alone), or the Go runtime.
func (r rules) isSetting(env string) bool {
	switch env {
	case "GOMEMLIMIT", "GOMAXPROCS", "GOGC", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_RESOURCE_ATTRIBUTES":
		return true
	}
	flag := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(env, "WAYBILL_"), "_", "-"))
	return r.flags[flag]
}

// repoRules reads the mesh's services from cmd/waybill/services.go and every flag name
// from the sources that define flags.
func repoRules(t *testing.T) rules {
	t.Helper()
	src, err := os.ReadFile("../cmd/waybill/services.go")
	if err != nil {
		t.Fatal(err)
	}
	var r rules
	for _, m := range regexp.MustCompile(`(\w+)app\.Spec\(\)`).FindAllStringSubmatch(string(src), -1) {
		r.services = append(r.services, m[1])
	}
	if len(r.services) < 6 {
		t.Fatalf("found only %v in cmd/waybill/services.go", r.services)
	}
	r.flags = map[string]bool{}
	for _, s := range r.services {
		r.flags[s+"-addr"] = true // gateway, analytics and notification: s.Name+"-addr"
	}
	flagName := regexp.MustCompile(`"([a-z][a-z0-9]*(?:-[a-z0-9]+)*)"`)
	var files []string
	for _, pattern := range []string{"../kit/*/*.go", "../services/*/*app/*.go", "../gateway/*.go", "../cmd/waybill/*.go"} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.Contains(line, "fs.") && !strings.Contains(line, "flags.") {
				continue
			}
			for _, m := range flagName.FindAllStringSubmatch(line, -1) {
				r.flags[m[1]] = true
			}
		}
	}
	for _, f := range []string{"database-url", "grpc-addr", "providers", "auth-secret"} {
		if !r.flags[f] {
			t.Fatalf("flag %s not found in the sources: the flag scan is broken", f)
		}
	}
	return r
}

func TestManifestsKeepTheRules(t *testing.T) {
	objs := load(t, "k8s", "examples")
	for _, p := range check(objs, repoRules(t)) {
		t.Error(p)
	}
}

// TestOverlaysKeepTheRules renders each overlay in overlays/ (what `kubectl apply -k` would
// send) and checks it with the same rules: the 100x sizes of docs/scaling.md must fit
// the databases' connections and the consumers' partitions too.
func TestOverlaysKeepTheRules(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs kustomize")
	}
	dirs, _ := filepath.Glob("overlays/*")
	if len(dirs) == 0 {
		t.Fatal("no overlays")
	}
	r := repoRules(t)
	examples := load(t, "examples")
	for _, dir := range dirs {
		out, err := exec.Command("go", "tool", "kustomize", "build", dir).CombinedOutput()
		if err != nil {
			t.Fatalf("kustomize build %s: %v\n%s", dir, err, out)
		}
		objs := append(parse(t, dir, out), examples...)
		for _, p := range check(objs, r) {
			t.Errorf("%s: %s", dir, p)
		}
	}
}

// TestRulesCatchMistakes runs the same rules on manifests with one mistake of each kind.
func TestRulesCatchMistakes(t *testing.T) {
	r := repoRules(t)
	r.services = []string{"booking", "fare"}
	got := strings.Join(check(load(t, "testdata/inconsistent"), r), "\n")
	for _, want := range []string{
		"service fare: no Deployment",
		"Deployment/booking: container booking: gRPC probe on port 7001, but its grpc port is 7000",
		"Deployment/booking: container booking: no memory limit",
		`Deployment/booking: container booking: liveness probe asks gRPC health service "", want "liveness"`,
		"Deployment/booking: container booking: WAYBILL_FARE_ADRR configures no flag of any process",
		"Deployment/booking: container booking: DATABASE_URL reads secret booking-db key url, which deploy/examples/secrets.yaml does not show",
		"Service/booking: port http targets metrics, which its pods do not expose",
		"HorizontalPodAutoscaler/booking: 40 replicas x 10 connections = 400, over booking-db's max_connections 200 less 10",
		"HorizontalPodAutoscaler/booking: up to 40 replicas, but only 16 consumer partitions",
		"PodDisruptionBudget/booking-typo: selector map[app.kubernetes.io/name:bookng] selects no Deployment's pods",
		`ConfigMap/waybill-mesh: WAYBILL_BOOKING_ADDR = "dns:///booking:7001", want "dns:///booking:7000"`,
		"Deployment/gateway: its first container does not run `serve gateway`",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no problem %q among:\n%s", want, got)
		}
	}
}

// TestKustomizationListsEveryFile: a manifest left out of kustomization.yaml would pass
// every check and never be applied.
func TestKustomizationListsEveryFile(t *testing.T) {
	raw, err := os.ReadFile("k8s/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("k8s/*.yaml")
	var want []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			want = append(want, b)
		}
	}
	got := slices.Clone(k.Resources)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("kustomization.yaml resources = %v, want the files %v", got, want)
	}
}

// TestCheckRejectsBrokenManifests: scripts/deploy-check.sh (kubeconform, strict, on the
// vendored schemas) fails on each manifest in testdata/broken, for its reason, and passes
// the real ones.
func TestCheckRejectsBrokenManifests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs kubeconform")
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command("../scripts/deploy-check.sh", args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	if out, err := run("deploy/k8s", "deploy/examples"); err != nil {
		t.Fatalf("the real manifests fail: %v\n%s", err, out)
	}
	for file, reason := range map[string]string{
		"unknown-field.yaml":    "additional properties 'periodSecond' not allowed",
		"wrong-type.yaml":       "at '/spec/replicas': got string, want integer",
		"missing-required.yaml": "missing property 'name'",
		"unknown-kind.yaml":     "could not find schema for Deploymnet",
		"duplicate-key.yaml":    `key "ports" already set in map`,
		"misplaced-field.yaml":  "additional properties 'containerPort' not allowed",
	} {
		out, err := run("deploy/testdata/broken/" + file)
		if err == nil {
			t.Errorf("%s passed the check:\n%s", file, out)
			continue
		}
		if !strings.Contains(out, reason) {
			t.Errorf("%s failed, but not for %q:\n%s", file, reason, out)
		}
	}
	files, _ := filepath.Glob("testdata/broken/*.yaml")
	if len(files) != 6 {
		t.Errorf("testdata/broken has %d files, the test knows 6", len(files))
	}
}
