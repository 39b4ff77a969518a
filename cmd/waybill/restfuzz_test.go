package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/waybill/waybill/gen/openapi"
)

// The bounded REST fuzz run: requests generated from the OpenAPI document, sent to every
// operation of a real mesh. RESTFUZZ_REQUESTS and RESTFUZZ_SEED change the run (for
// example RESTFUZZ_REQUESTS=20000 for a longer one; RESTFUZZ_LOG=1 logs every request
// and answer); the defaults keep it to a few seconds and the same requests every run.
const (
	restFuzzRequests = 1500
	restFuzzSeed     = 11
	restFuzzWorkers  = 4
)

// TestRESTFuzz sends generated requests to every operation of the OpenAPI document on a
// mesh started with `waybill up`: random path and query parameters and JSON bodies shaped
// by the operation's schemas (and sometimes not), as an operator, as a customer and with
// no token. No answer may be a 5xx other than 501 (not implemented) and 503
// (unavailable), no connection may fail, and at the end every process still runs and
// /healthz says every service serves. Each finding prints the request as a curl command.
func TestRESTFuzz(t *testing.T) {
	m := startMesh(t)
	restFuzz(t, m)
}

// restFuzz runs the fuzz against m's gateway; TestUpRunsTheMesh's mesh could run it too.
func restFuzz(t *testing.T, m *mesh) {
	n, seed := envInt(t, "RESTFUZZ_REQUESTS", restFuzzRequests), envInt(t, "RESTFUZZ_SEED", restFuzzSeed)
	gw := "http://" + m.addr(portsOf("gateway").HTTP)
	ops := restOperations(t)
	pids := map[string]int{}
	for _, name := range append(serviceNamesList(), "gateway") {
		pids[name] = m.logs.pidOf(name)
	}
	exits := strings.Count(m.logs.String(), `msg="process exited"`)
	// Two subjects per role keep each under the gateway's per-caller rate limit.
	callers := []restCaller{{role: "anonymous"}}
	for _, c := range []struct{ subject, role string }{{"ops-fuzz-1", "operator"}, {"c-fuzz-1", "customer"}, {"ops-fuzz-2", "operator"}, {"c-fuzz-2", "customer"}} {
		callers = append(callers, restCaller{role: c.role, subject: c.subject, token: mintToken(t, m.bin, c.subject, c.role)})
	}
	g := newRestGen(seed)
	start := time.Now()
	var results []restResult

	// First the operations that create (POST without path parameters), one at a time, to
	// collect the ids they return; the rest then names those as often as made-up ones.
	var creates []*restOp
	for _, op := range ops {
		if op.method == http.MethodPost && !strings.Contains(op.path, "{") {
			creates = append(creates, op)
		}
	}
	for i := 0; len(results) < n/5 && i < 8*len(creates); i++ {
		req := g.request(creates[i%len(creates)], callers[1+i%(len(callers)-1)], len(results), true)
		res := req.send(gw)
		results = append(results, res)
		g.harvest(res.body)
	}
	var reqs []restRequest
	for i := len(results); i < n; i++ {
		reqs = append(reqs, g.request(ops[i%len(ops)], callers[(i/len(ops))%len(callers)], i, i%2 == 0))
	}
	results = append(results, sendAll(gw, reqs)...)
	took := time.Since(start)

	if os.Getenv("RESTFUZZ_LOG") != "" {
		for _, r := range results {
			t.Logf("%s %s as %s\n%s\n→ %s", r.req.op.method, r.req.target, r.req.caller.role, truncate(r.req.body, 300), truncate([]byte(r.answer()), 300))
		}
	}
	var findings []string
	seen := map[string]bool{}
	statuses := map[int]int{}
	for _, r := range results {
		statuses[r.status]++
		problem := r.problem()
		if problem == "" {
			continue
		}
		key := r.req.op.String() + " " + problem
		if seen[key] {
			continue
		}
		seen[key] = true
		findings = append(findings, fmt.Sprintf("%s\n%s\n→ %s", problem, r.req.curl(gw), r.answer()))
	}
	for _, f := range findings {
		t.Errorf("REST fuzz finding: %s", f)
	}
	if code, body := get(t, gw+"/healthz"); code != http.StatusOK {
		t.Errorf("after the fuzz run /healthz = %d %s", code, body)
	}
	for name, pid := range pids {
		if now := m.logs.pidOf(name); now != pid {
			t.Errorf("%s crashed during the fuzz run: pid %d, now %d", name, pid, now)
		}
	}
	if logs := m.logs.String(); strings.Count(logs, `msg="process exited"`) != exits {
		t.Errorf("a process exited during the fuzz run:\n%s", grepLines(logs, `msg="process exited"`))
	}
	if logs := m.logs.String(); strings.Contains(logs, "panic") {
		t.Errorf("a process logged a panic during the fuzz run:\n%s", grepLines(logs, "panic"))
	}
	codes := make([]int, 0, len(statuses))
	for c := range statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var counts []string
	for _, c := range codes {
		counts = append(counts, fmt.Sprintf("%d×%d", statuses[c], c))
	}
	t.Logf("REST fuzz: %d requests to %d operations (seed %d) in %v: %s; %d ids collected", len(results), len(ops),
		seed, took.Round(time.Millisecond), strings.Join(counts, " "), len(g.ids))
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return fmt.Sprintf("%s… (%d bytes)", b[:n], len(b))
	}
	return string(b)
}

func grepLines(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The parts of an OpenAPI 3 document the fuzz reads.
type (
	oaDoc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]*oaSchema `json:"schemas"`
		} `json:"components"`
	}
	oaOperation struct {
		OperationID string    `json:"operationId"`
		Parameters  []oaParam `json:"parameters"`
		RequestBody *struct {
			Content map[string]struct {
				Schema *oaSchema `json:"schema"`
			} `json:"content"`
		} `json:"requestBody"`
		Responses map[string]struct {
			Content map[string]struct {
				Schema *oaSchema `json:"schema"`
			} `json:"content"`
		} `json:"responses"`
	}
	oaParam struct {
		Name     string    `json:"name"`
		In       string    `json:"in"`
		Required bool      `json:"required"`
		Schema   *oaSchema `json:"schema"`
	}
	oaSchema struct {
		Ref                  string               `json:"$ref"`
		Type                 string               `json:"type"`
		Format               string               `json:"format"`
		Title                string               `json:"title"`
		Enum                 []any                `json:"enum"`
		Items                *oaSchema            `json:"items"`
		Properties           map[string]*oaSchema `json:"properties"`
		AdditionalProperties json.RawMessage      `json:"additionalProperties"`
		ReadOnly             bool                 `json:"readOnly"`
		Description          string               `json:"description"`
		resolved             *oaSchema
	}
)

// outputOnly reports whether the server fills the field: clients do not send it.
func (s *oaSchema) outputOnly() bool {
	return s.ReadOnly || strings.Contains(s.Description, "Output only") ||
		s.resolved != nil && s.resolved != s && s.resolved.outputOnly()
}

// restOp is one operation of the document.
type restOp struct {
	id, method, path string // path is the template: "/v1/bills/{billId}"
	params           []oaParam
	body             *oaSchema // nil without a request body
	stream           bool      // a server stream: answers as events come
}

func (o *restOp) String() string { return o.method + " " + o.path }

// restOperations reads every operation of the embedded OpenAPI document, with $refs
// resolved, in a fixed order.
func restOperations(t *testing.T) []*restOp {
	t.Helper()
	var doc oaDoc
	if err := json.Unmarshal(openapi.JSON, &doc); err != nil {
		t.Fatalf("OpenAPI document: %v", err)
	}
	resolve := func(s *oaSchema) *oaSchema {
		for s != nil && s.Ref != "" {
			name := strings.TrimPrefix(s.Ref, "#/components/schemas/")
			next, ok := doc.Components.Schemas[name]
			if !ok {
				t.Fatalf("OpenAPI document: unresolved $ref %q", s.Ref)
			}
			s = next
		}
		return s
	}
	var walk func(s *oaSchema)
	seen := map[*oaSchema]bool{}
	walk = func(s *oaSchema) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		s.resolved = resolve(s)
		walk(s.resolved)
		walk(s.Items)
		for _, p := range s.Properties {
			walk(p)
		}
		var ap oaSchema
		if len(s.AdditionalProperties) > 0 && json.Unmarshal(s.AdditionalProperties, &ap) == nil && ap.Type != "" {
			walk(&ap)
		}
	}
	var ops []*restOp
	for path, item := range doc.Paths {
		var shared []oaParam
		if raw, ok := item["parameters"]; ok {
			if err := json.Unmarshal(raw, &shared); err != nil {
				t.Fatalf("OpenAPI %s parameters: %v", path, err)
			}
		}
		for method, raw := range item {
			if method == "parameters" || strings.HasPrefix(method, "x-") {
				continue
			}
			var o oaOperation
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatalf("OpenAPI %s %s: %v", method, path, err)
			}
			op := &restOp{id: o.OperationID, method: strings.ToUpper(method), path: path, params: append(slices.Clone(shared), o.Parameters...)}
			for i := range op.params {
				walk(op.params[i].Schema)
			}
			if o.RequestBody != nil {
				op.body = o.RequestBody.Content["application/json"].Schema
				walk(op.body)
			}
			if ok := o.Responses["200"].Content["application/json"].Schema; ok != nil {
				op.stream = strings.HasPrefix(resolve(ok).Title, "Stream result of")
			}
			ops = append(ops, op)
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].String() < ops[j].String() })
	if len(ops) < 50 {
		t.Fatalf("the OpenAPI document has %d operations", len(ops))
	}
	return ops
}

// restCaller is who sends a request: a role, a subject and their token (none for
// anonymous).
type restCaller struct{ role, subject, token string }

// restRequest is one generated request.
type restRequest struct {
	n      int
	op     *restOp
	caller restCaller
	target string // path and query, escaped
	body   []byte // nil for none
}

// curl returns a command that sends r again to the mesh at gw.
func (r restRequest) curl(gw string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "curl -sS -X %s '%s%s'", r.op.method, gw, strings.ReplaceAll(r.target, "'", `'\''`))
	if r.caller.token != "" {
		fmt.Fprintf(&b, ` -H "Authorization: Bearer $(waybill token --subject %s --role %s)"`, r.caller.subject, r.caller.role)
	}
	if r.body != nil {
		b.WriteString(" -H 'Content-Type: application/json' --data-binary @- <<'EOF'\n")
		if len(r.body) > 4096 {
			fmt.Fprintf(&b, "%s… (%d bytes in all)", r.body[:4096], len(r.body))
		} else {
			b.Write(r.body)
		}
		b.WriteString("\nEOF")
	}
	return b.String()
}

// restResult is what came back.
type restResult struct {
	req     restRequest
	status  int
	body    []byte
	err     error
	timeout bool // a stream that sent nothing before the client gave up: expected
}

// problem says what is wrong with the answer, or "" when nothing is.
func (r restResult) problem() string {
	switch {
	case r.timeout:
		return ""
	case r.err != nil:
		return "transport error: " + r.err.Error()
	case r.status >= 500 && r.status != http.StatusNotImplemented && r.status != http.StatusServiceUnavailable:
		var st struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(r.body, &st)
		return fmt.Sprintf("%d %s", r.status, errorID.ReplaceAllString(st.Message, "error id …"))
	}
	return ""
}

var errorID = regexp.MustCompile(`error id [0-9a-zA-Z-]+`)

func (r restResult) answer() string {
	if r.err != nil {
		return r.err.Error()
	}
	body := r.body
	if len(body) > 2048 {
		body = body[:2048]
	}
	return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(body))
}

// send sends r to the gateway at gw. A stream gets half a second to answer: one with no
// event yet answers nothing, which is no finding.
func (r restRequest) send(gw string) restResult {
	res := restResult{req: r}
	timeout := 10 * time.Second
	if r.op.stream {
		timeout = 500 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.op.method, gw+r.target, body)
	if err != nil {
		res.err = fmt.Errorf("build request: %w", err)
		return res
	}
	if r.caller.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.caller.token)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-Request-Id", "restfuzz-"+strconv.Itoa(r.n))
	resp, err := restClient.Do(req)
	if err != nil {
		res.err, res.timeout = err, r.op.stream && errors.Is(err, context.DeadlineExceeded)
		return res
	}
	defer resp.Body.Close()
	res.status = resp.StatusCode
	res.body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil && !(r.op.stream && errors.Is(err, context.DeadlineExceeded)) {
		res.err = fmt.Errorf("read answer: %w", err)
	}
	return res
}

var restClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: restFuzzWorkers}}

// sendAll sends reqs from a few workers and returns the results in the order of reqs.
func sendAll(gw string, reqs []restRequest) []restResult {
	results := make([]restResult, len(reqs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range restFuzzWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = reqs[i].send(gw)
			}
		}()
	}
	for i := range reqs {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// restGen generates requests from the document's schemas. Half the requests are tame:
// every field a client may set, with values their names suggest (the caller's own
// customer id, known currencies, ids the mesh returned, hours from 0 to 23), so that
// they get past validation; the other half are wild: fields left out, the wrong types,
// unknown fields, values at the edges and beyond, bodies that are not JSON.
type restGen struct {
	rnd    *rand.Rand
	ids    []string              // ids seen in answers, and one well-formed id that names nothing
	oneofs map[string][][]string // schema name → its oneofs' JSON field names
	tame   bool                  // the request being generated is tame
}

func newRestGen(seed int) *restGen {
	return &restGen{rnd: rand.New(rand.NewPCG(uint64(seed), 0x5eed)), ids: []string{uuidLike}, oneofs: oneofGroups()}
}

// oneofGroups returns, by message name, the JSON names of the fields of each oneof of
// the Waybill messages (the OpenAPI document does not say that at most one may be set).
// Request messages are listed under their OpenAPI body name too ("AddBillItemBody").
func oneofGroups() map[string][][]string {
	groups := map[string][][]string{}
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		md := mt.Descriptor()
		if !strings.HasPrefix(string(md.FullName()), "waybill.") {
			return true
		}
		for i := 0; i < md.Oneofs().Len(); i++ {
			o := md.Oneofs().Get(i)
			if o.IsSynthetic() {
				continue
			}
			var names []string
			for j := 0; j < o.Fields().Len(); j++ {
				names = append(names, o.Fields().Get(j).JSONName())
			}
			name := string(md.Name())
			groups[name] = append(groups[name], names)
			if body, ok := strings.CutSuffix(name, "Request"); ok {
				groups[body+"Body"] = append(groups[body+"Body"], names)
			}
		}
		return true
	})
	return groups
}

// harvest keeps the ids in a JSON answer.
func (g *restGen) harvest(body []byte) {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return
	}
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(k, v[k])
			}
		case []any:
			for _, e := range v {
				walk(key, e)
			}
		case string:
			if (key == "id" || strings.HasSuffix(key, "Id")) && len(v) == 36 && !slices.Contains(g.ids, v) {
				g.ids = append(g.ids, v)
			}
		}
	}
	walk("", v)
}

func (g *restGen) pick(n int) int { return g.rnd.IntN(n) }

// chance reports true with probability p.
func (g *restGen) chance(p float64) bool { return g.rnd.Float64() < p }

// wild reports true with probability p in a wild request, never in a tame one.
func (g *restGen) wild(p float64) bool { return !g.tame && g.chance(p) }

// one returns one of choices: the first tame ones when tame is true (tameN of them).
func one[T any](g *restGen, tameN int, choices ...T) T {
	if g.tame {
		return choices[g.pick(tameN)]
	}
	return choices[g.pick(len(choices))]
}

// request generates request n for op as caller.
func (g *restGen) request(op *restOp, caller restCaller, n int, tame bool) restRequest {
	g.tame = tame
	r := restRequest{n: n, op: op, caller: caller}
	path := op.path
	query := url.Values{}
	for _, p := range op.params {
		switch p.In {
		case "path":
			path = strings.ReplaceAll(path, "{"+p.Name+"}", g.pathSegment(p.Name, caller))
		case "query":
			if !p.Required && !g.chance(map[bool]float64{true: 0.9, false: 0.35}[g.tame]) {
				continue
			}
			v := g.value(p.Schema, p.Name, 2, caller)
			if list, ok := v.([]any); ok {
				for _, e := range list {
					query.Add(p.Name, queryText(e))
				}
			} else {
				query.Add(p.Name, queryText(v))
			}
		}
	}
	if g.wild(0.05) {
		query.Add("fuzzUnknown", "1")
	}
	r.target = path
	if len(query) > 0 {
		r.target += "?" + query.Encode()
	}
	if op.body != nil {
		r.body = g.body(op.body, caller)
	}
	return r
}

// body returns a JSON body for schema s, or in a wild request now and then one that is
// not.
func (g *restGen) body(s *oaSchema, caller restCaller) []byte {
	if !g.tame {
		switch x := g.rnd.Float64(); {
		case x < 0.03:
			return []byte(`null`)
		case x < 0.06:
			return []byte(`[]`)
		case x < 0.08:
			return []byte(`{"a":`)
		case x < 0.10:
			return []byte(`{}`)
		case x < 0.11:
			return []byte(strings.Repeat("[", 20000) + strings.Repeat("]", 20000))
		case x < 0.12:
			return bytes.Repeat([]byte(" "), 1<<20+10) // past the gateway's 1 MiB cap
		}
	}
	b, err := json.Marshal(g.value(s, "", 8, caller))
	if err != nil {
		panic(err)
	}
	return b
}

// pathSegment returns a value for the path parameter name, escaped.
func (g *restGen) pathSegment(name string, caller restCaller) string {
	var v string
	switch {
	case name == "service" || name == "provider":
		v = one(g, 6, "booking", "billing", "payment", "fare", "trip", "matching", "nope")
	case name == "city":
		v = one(g, 2, "berlin", "paris", "Berlin")
	case name == "zone":
		v = one(g, 2, "default", "z1", "Z!")
	default:
		v = g.str(name, caller)
	}
	if g.wild(0.08) {
		v = []string{"", ".", "..", "a/b", "%", "\u00e9\u4e2d", strings.Repeat("x", 2000), "\x00", "\xff"}[g.pick(9)]
	}
	return url.PathEscape(v)
}

// value returns a JSON value (for encoding/json) for schema s of the field name.
func (g *restGen) value(s *oaSchema, name string, depth int, caller restCaller) any {
	if s == nil {
		return nil
	}
	schemaName := s.Ref[strings.LastIndexByte(s.Ref, '/')+1:]
	if s.resolved != nil {
		s = s.resolved
	}
	if g.wild(0.03) { // the wrong type
		return []any{nil, true, "x", json.Number("1"), []any{}, map[string]any{}}[g.pick(6)]
	}
	switch {
	case len(s.Enum) > 0:
		if g.wild(0.1) {
			return []any{"NOT_A_VALUE", json.Number("1"), json.Number("99")}[g.pick(3)]
		}
		if g.tame && len(s.Enum) > 1 {
			return s.Enum[1+g.pick(len(s.Enum)-1)] // not the UNSPECIFIED zero value
		}
		return s.Enum[g.pick(len(s.Enum))]
	case s.Type == "string" && s.Format == "date-time":
		return g.timestamp()
	case s.Type == "string" && (s.Format == "int64" || s.Format == "uint64"):
		return g.int64Text(name)
	case s.Type == "string":
		return g.str(name, caller)
	case s.Type == "integer":
		return g.int32(name)
	case s.Type == "number":
		return g.number(name)
	case s.Type == "boolean":
		return g.chance(0.5)
	case s.Type == "array":
		n := 1 + g.pick(2)
		if !g.tame {
			n = g.pick(4)
		}
		if depth <= 0 {
			n = 0
		}
		list := make([]any, 0, n)
		for range n {
			list = append(list, g.value(s.Items, singular(name), depth-1, caller))
		}
		return list
	}
	// An object: a message, or a map (additionalProperties).
	obj := map[string]any{}
	if depth <= 0 {
		return obj
	}
	names := make([]string, 0, len(s.Properties))
	for k := range s.Properties {
		names = append(names, k)
	}
	sort.Strings(names)
	chosen := map[string]bool{} // of each oneof, the one field that may be set
	if g.tame || g.chance(0.8) {
		for _, group := range g.oneofs[schemaName] {
			chosen[group[g.pick(len(group))]] = true
			for _, f := range group {
				if !chosen[f] {
					chosen[f] = false
				}
			}
		}
	}
	for _, k := range names {
		p := s.Properties[k]
		if ok, inOneof := chosen[k]; inOneof && !ok {
			continue
		}
		want := 0.6
		switch {
		case p.outputOnly():
			want = 0.05
			if g.tame {
				want = 0
			}
		case g.tame:
			want = 0.9
		}
		if g.chance(want) {
			obj[k] = g.value(p, k, depth-1, caller)
		}
	}
	var ap oaSchema
	if len(s.AdditionalProperties) > 0 && json.Unmarshal(s.AdditionalProperties, &ap) == nil && ap.Type != "" && len(s.Properties) == 0 {
		for i := range g.pick(3) {
			obj["k"+strconv.Itoa(i)] = g.value(&ap, "", depth-1, caller)
		}
	}
	if g.wild(0.05) {
		obj["fuzzUnknownField"] = 1
	}
	return obj
}

func singular(name string) string { return strings.TrimSuffix(name, "s") }

// str returns a string for the field name: what its name suggests, mostly.
func (g *restGen) str(name string, caller restCaller) string {
	lower := strings.ToLower(name)
	if g.wild(0.12) {
		return []string{"", " ", "\u00e9\u4e2d\U0001F600", strings.Repeat("x", 300), strings.Repeat("y", 70000),
			"'; DROP TABLE bills; --", "\x00", "a\nb", "%s%n", "\ufeff", "\u202e"}[g.pick(11)]
	}
	switch {
	case lower == "customerid" || lower == "subject":
		if caller.role == "customer" && g.chance(0.8) {
			return caller.subject
		}
		return one(g, 2, "c-fuzz-1", "c-9", "ops-fuzz-1")
	case lower == "requestid":
		return fmt.Sprintf("fz-%d", g.pick(1_000_000))
	case strings.HasSuffix(lower, "currencycode") || lower == "currency":
		return one(g, 5, "EUR", "EUR", "EUR", "USD", "JPY", "KWD", "ZZZ", "eur")
	case strings.HasSuffix(lower, "id") || strings.HasSuffix(lower, "ids"):
		switch x := g.rnd.Float64(); {
		case x < 0.65 || g.tame && x < 0.85:
			return g.ids[g.pick(len(g.ids))]
		case x < 0.85 || g.tame:
			return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", g.rnd.Uint32(), g.pick(1<<16), g.pick(1<<12), g.pick(1<<12), g.rnd.Uint64()&(1<<48-1))
		default:
			return []string{"not-a-uuid", "1", "00000000-0000-0000-0000-000000000000", "ZZZZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZZZZZZZZZ"}[g.pick(4)]
		}
	case strings.Contains(lower, "timezone"):
		return one(g, 3, "Europe/Berlin", "UTC", "America/New_York", "Mars/Olympus", "")
	case lower == "city":
		return one(g, 2, "berlin", "paris", "Berlin")
	case lower == "zone" || lower == "surgezone":
		return one(g, 2, "default", "z1", "Z!")
	case lower == "carrier":
		return one(g, 2, "LH", "AF", "lh")
	case lower == "origin" || lower == "destination":
		return one(g, 3, "FRA", "SFO", "CDG", "X")
	case lower == "fareclass" || lower == "roomtype":
		return one(g, 2, "economy", "double", "nope")
	case lower == "name" || lower == "fullname" || lower == "displayname" || lower == "cardholdername":
		return one(g, 3, "economy", "Ada Lovelace", "double")
	case strings.Contains(lower, "duration") || strings.Contains(lower, "notice") || strings.Contains(lower, "timeout"):
		return one(g, 3, "600s", "1800s", "3600s", "86400s", "-1s", "0s", "x", "315576000001s")
	case strings.Contains(lower, "pagetoken"):
		return one(g, 1, "", "x", "eyJmIjoiIiwiYyI6bnVsbH0", "%%%")
	case strings.Contains(lower, "mask") || lower == "paths":
		return one(g, 3, "name", "city", "vehicle.plate", "", "no_such_field", "name,city")
	case lower == "number":
		return one(g, 2, "4242424242424242", "454", "4000000000000002", "1")
	case lower == "cvc":
		return one(g, 1, "123", "1", "abcd")
	case lower == "plate":
		return one(g, 1, "B-WB 1", "")
	case lower == "product":
		return one(g, 2, "standard", "premium", "x")
	case lower == "processortoken":
		return one(g, 1, "tok_visa", "x")
	case lower == "substatus":
		return one(g, 2, "", "VIP", strings.Repeat("s", 200))
	}
	return one(g, 4, "x", "Ada Lovelace", "fuzz", "berlin", "LH 454")
}

// timestamp returns an RFC 3339 time within days of now, or at the edges of what
// protobuf allows, or not a time.
func (g *restGen) timestamp() string {
	switch x := g.rnd.Float64(); {
	case x < 0.75 || g.tame:
		return time.Now().UTC().Truncate(time.Hour).Add(time.Duration(g.pick(24*60)-24*10) * time.Hour).Format(time.RFC3339)
	case x < 0.9:
		return []string{"0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2026-06-01T12:00:00.123456789+14:00"}[g.pick(4)]
	default:
		return []string{"2026-13-01T00:00:00Z", "tomorrow", "", "2026-01-01"}[g.pick(4)]
	}
}

func (g *restGen) int64Text(name string) string {
	lower := strings.ToLower(name)
	switch {
	case strings.Contains(lower, "amount"):
		return one(g, 4, "100", "1999", "10000", "1", "0", "-1", "10000000000", "10000000001", "9223372036854775807")
	case strings.Contains(lower, "version"):
		return one(g, 2, "0", "1", "-1", "9223372036854775807")
	case strings.Contains(lower, "meters") || strings.Contains(lower, "seconds"):
		return one(g, 3, "1000", "600", "5000", "0", "-1", "9223372036854775807")
	}
	return one(g, 3, "0", "1", "42", "-1", "10000", "10000000000", "9223372036854775807",
		"-9223372036854775808", "9223372036854775808", "1e3", "abc")
}

func (g *restGen) int32(name string) json.Number {
	lower := strings.ToLower(name)
	var v string
	switch {
	case lower == "pagesize":
		v = one(g, 3, "0", "1", "10", "-1", "1000", "2147483647")
	case strings.Contains(lower, "year"):
		v = one(g, 3, "2026", "2027", "2099", "1", "0", "10000", "-5")
	case strings.Contains(lower, "month"):
		v = one(g, 3, "1", "6", "12", "0", "13")
	case lower == "day":
		v = one(g, 3, "1", "15", "28", "0", "32")
	case strings.Contains(lower, "hour"):
		v = one(g, 3, "0", "10", "23", "24", "-1")
	case strings.HasSuffix(lower, "bps"):
		v = one(g, 3, "10000", "15000", "5000", "0", "-1", "1000000")
	case strings.Contains(lower, "meters"):
		v = one(g, 2, "1000", "5000", "0", "-1", "100000000")
	default:
		v = one(g, 4, "1", "2", "3", "10", "0", "-1", "100", "2147483647", "-2147483648", "2147483648", "1.5")
	}
	return json.Number(v)
}

func (g *restGen) number(name string) any {
	lower := strings.ToLower(name)
	switch {
	case lower == "latitude":
		return one[any](g, 2, json.Number("52.52"), json.Number("48.85"), json.Number("90.5"), json.Number("-91"), "NaN")
	case lower == "longitude":
		return one[any](g, 2, json.Number("13.405"), json.Number("2.35"), json.Number("180.5"), "Infinity")
	}
	return one[any](g, 3, json.Number("0"), json.Number("1.5"), json.Number("10"), json.Number("-1"), json.Number("1e308"), "NaN", "-Infinity")
}

// queryText writes a JSON value as a query parameter's text.
func queryText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}
