package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpcserver"
)

// The fuzz targets of the gateway's request decoding: JSON bodies, path parameters and
// query strings becoming the protobuf requests the services receive. Their seeds run
// with every `go test`; to fuzz, run one at a time, for example
//
//	go test -run '^$' -fuzz '^FuzzRESTRequest$' -fuzztime 30s ./gateway
//	go test -run '^$' -fuzz '^FuzzJSONRequestBody$' -fuzztime 30s ./gateway

// fuzzMarshaler is the marshaler gateway.New gives its runtime.ServeMux for every MIME
// type. FuzzRESTRequest goes through the real mux; only the round trip of an accepted
// request uses this copy, so keep it the same as in New.
var fuzzMarshaler runtime.Marshaler = &runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{}}

// restOp is one REST binding (google.api.http) of a public RPC.
type restOp struct {
	method   string // HTTP method
	template string // path template: "/v1/drivers/{driver.id}"
	body     string // the request field the body fills: "*", a field name, or "" for none
	rpc      protoreflect.MethodDescriptor
}

func (o restOp) String() string { return o.method + " " + o.template }

// restOps returns every REST binding of the Waybill services in the protobuf registry
// (the generated packages the gateway registers), in a fixed order.
func restOps() []restOp {
	var ops []restOp
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(fd.Package()), "waybill.") {
			return true
		}
		for i := 0; i < fd.Services().Len(); i++ {
			methods := fd.Services().Get(i).Methods()
			for j := 0; j < methods.Len(); j++ {
				m := methods.Get(j)
				rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
				if rule == nil {
					continue
				}
				for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
					if op, ok := opOf(r, m); ok {
						ops = append(ops, op)
					}
				}
			}
		}
		return true
	})
	sort.Slice(ops, func(i, j int) bool { return ops[i].String() < ops[j].String() })
	return ops
}

func opOf(r *annotations.HttpRule, m protoreflect.MethodDescriptor) (restOp, bool) {
	op := restOp{body: r.GetBody(), rpc: m}
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		op.method, op.template = http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		op.method, op.template = http.MethodPost, p.Post
	case *annotations.HttpRule_Put:
		op.method, op.template = http.MethodPut, p.Put
	case *annotations.HttpRule_Patch:
		op.method, op.template = http.MethodPatch, p.Patch
	case *annotations.HttpRule_Delete:
		op.method, op.template = http.MethodDelete, p.Delete
	default:
		return op, false
	}
	return op, true
}

// pathVar matches one variable of a path template: "{bill_id}", "{name=things/*}".
var pathVar = regexp.MustCompile(`\{[^}]*\}`)

// path fills every variable of the template with param, escaped as one path segment.
func (o restOp) path(param string) string {
	return pathVar.ReplaceAllLiteralString(o.template, url.PathEscape(param))
}

// requestTypes returns the request message of every RPC with a REST binding, once each.
func requestTypes(ops []restOp) []protoreflect.MessageType {
	seen := map[protoreflect.FullName]bool{}
	var types []protoreflect.MessageType
	for _, op := range ops {
		name := op.rpc.Input().FullName()
		if seen[name] {
			continue
		}
		seen[name] = true
		mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
		if err != nil {
			panic(fmt.Sprintf("request type %s is not registered: %v", name, err))
		}
		types = append(types, mt)
	}
	return types
}

// fill sets every field of m to a sample value (enums to their first non-zero value,
// one element in lists and maps, nested messages down to a few levels), so that the seed
// of a request names every field the decoder knows.
func fill(m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if o := fd.ContainingOneof(); o != nil && m.WhichOneof(o) != nil {
			continue
		}
		switch {
		case fd.IsMap():
			mv := m.Mutable(fd).Map()
			key := sample(fd.MapKey(), nil, depth)
			mv.Set(key.MapKey(), sample(fd.MapValue(), mv.NewValue, depth))
		case fd.IsList():
			lv := m.Mutable(fd).List()
			lv.Append(sample(fd, lv.NewElement, depth))
		case fd.Message() != nil:
			if depth == 0 || fd.Message().FullName() == "google.protobuf.Any" {
				continue
			}
			fill(m.Mutable(fd).Message(), depth-1)
		default:
			m.Set(fd, sample(fd, nil, depth))
		}
	}
}

// sample returns a sample value of one field (or list element, map key or map value);
// newMessage makes the empty message of a message-typed one.
func sample(fd protoreflect.FieldDescriptor, newMessage func() protoreflect.Value, depth int) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		return protoreflect.ValueOfEnum(vals.Get(min(1, vals.Len()-1)).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(1)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(1)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(1)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(1)
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(1.5)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(1.5)
	case protoreflect.StringKind:
		if fd.ContainingMessage().FullName() == "google.protobuf.FieldMask" {
			return protoreflect.ValueOfString("name") // a path: a lower-case field name
		}
		return protoreflect.ValueOfString("00000000-0000-4000-8000-000000000000")
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte("x"))
	}
	v := newMessage()
	if depth > 0 && fd.Message().FullName() != "google.protobuf.Any" {
		fill(v.Message(), depth-1)
	}
	return v
}

// bodyOf returns the JSON of the part of m an op's body carries.
func (o restOp) bodyOf(m proto.Message) []byte {
	var v proto.Message
	switch o.body {
	case "":
		return nil
	case "*":
		v = m
	default:
		fd := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(o.body))
		if fd == nil || fd.Message() == nil {
			return []byte(`{}`)
		}
		v = m.ProtoReflect().Get(fd).Message().Interface()
	}
	b, err := fuzzMarshaler.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("%s: sample body: %v", o, err))
	}
	return b
}

// roundTrip checks that a request the gateway accepted survives being written as JSON
// and read back: what a client may send, a client may also be shown.
func roundTrip(m proto.Message) error {
	b, err := fuzzMarshaler.Marshal(m)
	if err != nil {
		return fmt.Errorf("the accepted %s cannot be written as JSON: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	back := m.ProtoReflect().New().Interface()
	if err := fuzzMarshaler.Unmarshal(b, back); err != nil {
		return fmt.Errorf("JSON of the accepted %s does not read back: %w\n%s", m.ProtoReflect().Descriptor().FullName(), err, b)
	}
	// Deterministic wire bytes compare NaN with NaN and -0 with +0 as the JSON does.
	want, err1 := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	got, err2 := proto.MarshalOptions{Deterministic: true}.Marshal(back)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if !bytes.Equal(want, got) {
		return fmt.Errorf("JSON round trip changed the accepted request:\nbefore %v\nafter  %v\nJSON   %s", m, back, b)
	}
	return nil
}

// FuzzJSONRequestBody decodes arbitrary bytes as the JSON body of every REST request
// type with the gateway's marshaler, as the generated handlers do: it must not panic,
// and a body it accepts must round-trip.
func FuzzJSONRequestBody(f *testing.F) {
	types := requestTypes(restOps())
	for i, mt := range types {
		m := mt.New()
		fill(m, 3)
		b, err := fuzzMarshaler.Marshal(m.Interface())
		if err != nil {
			f.Fatalf("%s: %v", mt.Descriptor().FullName(), err)
		}
		f.Add(uint16(i), b)
		f.Add(uint16(i), []byte(`{}`))
	}
	for _, s := range []string{`null`, `[]`, `{"requestId":null}`, `{"pageSize":"1e3"}`, `{"a":1}{"b":2}`, `{"createTime":"0000-01-01T00:00:00Z"}`} {
		f.Add(uint16(0), []byte(s))
	}
	f.Fuzz(func(t *testing.T, typ uint16, body []byte) {
		m := types[int(typ)%len(types)].New().Interface()
		if err := fuzzMarshaler.NewDecoder(bytes.NewReader(body)).Decode(m); err != nil {
			return
		}
		if err := roundTrip(m); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
	})
}

// recordingBackend is one gRPC server standing in for every service: it answers each
// call with the empty response (and a server stream with no message) and keeps the
// requests it received by the call's request id.
type recordingBackend struct {
	mu  sync.Mutex
	got map[string][]proto.Message
}

func (b *recordingBackend) handle(_ any, stream grpc.ServerStream) error {
	full, _ := grpc.MethodFromServerStream(stream)
	svc, name, _ := strings.Cut(strings.TrimPrefix(full, "/"), "/")
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if err != nil || !ok || sd.Methods().ByName(protoreflect.Name(name)) == nil {
		return fmt.Errorf("recordingBackend: unknown method %s", full)
	}
	md := sd.Methods().ByName(protoreflect.Name(name))
	in, err1 := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
	out, err2 := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	var msgs []proto.Message
	for {
		m := in.New().Interface()
		if err := stream.RecvMsg(m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		msgs = append(msgs, m)
		if !md.IsStreamingClient() {
			break
		}
	}
	meta, _ := metadata.FromIncomingContext(stream.Context())
	if ids := meta.Get(grpcserver.RequestIDHeader); len(ids) == 1 {
		b.mu.Lock()
		b.got[ids[0]] = msgs
		b.mu.Unlock()
	}
	if md.IsStreamingServer() {
		return nil
	}
	return stream.SendMsg(out.New().Interface())
}

// take returns and forgets the requests received for the request id.
func (b *recordingBackend) take(id string) ([]proto.Message, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	msgs, ok := b.got[id]
	delete(b.got, id)
	return msgs, ok
}

// startRecordingGateway runs a gateway (no rate limit) whose every service is one
// recordingBackend.
func startRecordingGateway(tb testing.TB) (http.Handler, *recordingBackend) {
	tb.Helper()
	b := &recordingBackend{got: map[string][]proto.Message{}}
	addr := serveBackend(tb, func(*grpc.Server) {}, grpc.UnknownServiceHandler(b.handle))
	return newGateway(tb, addr, Config{Timeout: 10 * time.Second}).Handler(), b
}

// FuzzRESTRequest sends an operator's request to one REST route of the gateway (the
// path variables filled with param, the query string and the body as given), in process,
// in front of a backend that accepts every call. The gateway must not panic nor answer
// 5xx (501 aside: a method the route does not have); a request it refuses must reach no
// service; a request it accepts must reach the service once and round-trip as JSON.
func FuzzRESTRequest(f *testing.F) {
	ops := restOps()
	if len(ops) < 50 {
		f.Fatalf("found %d REST routes in the registry; the generated packages are not linked in", len(ops))
	}
	for i, op := range ops {
		full := dynamicSample(op)
		param := "00000000-0000-4000-8000-000000000000"
		if strings.Contains(op.template, "{service}") || strings.Contains(op.template, "{provider}") {
			param = "booking"
		}
		f.Add(uint16(i), param, "", op.bodyOf(full))
		f.Add(uint16(i), param, "pageSize=10&view=VIEW_FULL&requestId=r-1", []byte(`{}`))
	}
	for _, s := range []struct{ param, query, body string }{
		{"", "", ""}, {"x/y", "a=%zz", "null"}, {"../..", "updateMask=name", `{"name":"x"}`},
		{"%", "pageSize=-1&pageSize=2", "[]"}, {"\x00", "statuses=BILL_STATUS_OPEN&statuses=1", `{"version":"18446744073709551616"}`},
	} {
		f.Add(uint16(0), s.param, s.query, []byte(s.body))
	}

	h, backend := startRecordingGateway(f)
	token, err := testSigner.Sign(auth.Identity{Subject: "ops-fuzz", Role: auth.RoleOperator}, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	var seq atomic.Uint64
	f.Fuzz(func(t *testing.T, opIndex uint16, param, query string, body []byte) {
		op := ops[int(opIndex)%len(ops)]
		u, err := url.Parse(op.path(param))
		if err != nil {
			t.Fatalf("%s: path %q: %v", op, op.path(param), err)
		}
		u.RawQuery = query
		id := "fuzz-" + strconv.FormatUint(seq.Add(1), 10)
		r := httptest.NewRequest(op.method, "/", bytes.NewReader(body))
		r.URL, r.RequestURI = u, u.RequestURI()
		r.Header.Set("Authorization", "Bearer "+token)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Request-Id", id)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got, reached := backend.take(id)

		show := func() string {
			return fmt.Sprintf("%s %s\nbody %q\n→ %d %s", op.method, u.RequestURI(), body, w.Code, w.Body.Bytes())
		}
		if w.Code >= 500 && w.Code != http.StatusNotImplemented {
			t.Fatalf("5xx:\n%s", show())
		}
		clientStream := op.rpc.IsStreamingClient()
		if w.Code != http.StatusOK {
			if reached && !clientStream {
				t.Fatalf("a refused request reached the service:\n%s", show())
			}
			return
		}
		if !reached || (!clientStream && len(got) != 1) {
			t.Fatalf("accepted, but the service received %d requests:\n%s", len(got), show())
		}
		for _, m := range got {
			if emptyMaskPath(m) {
				continue // a known quirk of grpc-gateway's, see emptyMaskPath
			}
			if err := roundTrip(m); err != nil {
				t.Fatalf("%v\n%s", err, show())
			}
		}
	})
}

// emptyMaskPath reports whether m's update_mask holds the empty path. grpc-gateway
// (runtime.FieldMaskFromRequestBody, v2.31.0) makes the mask of a PATCH whose body is an
// empty object `{}` ["" ], a path protojson refuses to write; the service must refuse it
// as an unknown path (INVALID_ARGUMENT naming update_mask). The fuzz target lets it pass
// so that it can look for other failures.
func emptyMaskPath(m proto.Message) bool {
	fd := m.ProtoReflect().Descriptor().Fields().ByName("update_mask")
	if fd == nil || fd.Message() == nil || fd.Message().FullName() != "google.protobuf.FieldMask" || !m.ProtoReflect().Has(fd) {
		return false
	}
	paths := m.ProtoReflect().Get(fd).Message().Get(fd.Message().Fields().ByName("paths")).List()
	for i := 0; i < paths.Len(); i++ {
		if paths.Get(i).String() == "" {
			return true
		}
	}
	return false
}

// dynamicSample returns op's request with every field filled.
func dynamicSample(op restOp) proto.Message {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(op.rpc.Input().FullName())
	if err != nil {
		panic(err)
	}
	m := mt.New()
	fill(m, 3)
	return m.Interface()
}
