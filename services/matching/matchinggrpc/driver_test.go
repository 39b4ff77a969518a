package matchinggrpc_test

import (
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	matchingv1 "github.com/waybill/waybill/gen/waybill/matching/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/services/matching/matching"
)

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// TestCreateAndGetDriver: an operator registers a driver, OFFLINE with version 1; what
// the request sets in output-only fields is ignored; the driver reads themselves, and
// nobody else but operators and services reads them.
func TestCreateAndGetDriver(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := grpctest.Context(t)
	in := newDriver("standard", "xl")
	in.Id, in.Status, in.Version, in.CurrentTripId = ids.New(), matchingv1.DriverStatus_DRIVER_STATUS_AVAILABLE, 7, "trip-1"
	d := h.create(t, in)
	if !ids.ValidUUID(d.GetId()) || d.GetId() == in.GetId() || d.GetStatus() != matchingv1.DriverStatus_DRIVER_STATUS_OFFLINE ||
		d.GetVersion() != 1 || d.GetCurrentTripId() != "" || d.GetCreateTime() == nil || d.GetLastLocation() != nil {
		t.Fatalf("created %v", d)
	}
	if d.GetName() != in.GetName() || d.GetCity() != "berlin" || !proto.Equal(d.GetVehicle(), in.GetVehicle()) {
		t.Fatalf("created %v from %v", d, in)
	}
	for name, c := range map[string]matchingv1.MatchingServiceClient{"operator": h.operator, "service": h.service, "self": h.as(d.GetId())} {
		got, err := c.GetDriver(ctx, &matchingv1.GetDriverRequest{DriverId: d.GetId()})
		if err != nil || !proto.Equal(got.GetDriver(), d) {
			t.Fatalf("GetDriver as %s = %v, %v; want %v", name, got, err, d)
		}
	}
	_, err := h.as(ids.New()).GetDriver(ctx, &matchingv1.GetDriverRequest{DriverId: d.GetId()})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = h.customer.GetDriver(ctx, &matchingv1.GetDriverRequest{DriverId: d.GetId()})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = h.anon.GetDriver(ctx, &matchingv1.GetDriverRequest{DriverId: d.GetId()})
	grpctest.WantCode(t, err, codes.Unauthenticated)
	_, err = h.operator.GetDriver(ctx, &matchingv1.GetDriverRequest{DriverId: ids.New()})
	grpctest.WantCode(t, err, codes.NotFound)
	_, err = h.operator.GetDriver(ctx, &matchingv1.GetDriverRequest{})
	grpctest.WantField(t, err, "driver_id")
	_, err = h.operator.GetDriver(ctx, &matchingv1.GetDriverRequest{DriverId: "drv-1"})
	grpctest.WantField(t, err, "driver_id")
}

// TestCreateDriverBadInput: every invalid field is INVALID_ARGUMENT naming it, and
// nothing is written.
func TestCreateDriverBadInput(t *testing.T) {
	t.Parallel()
	h := start(t)
	long := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = 'a'
		}
		return string(b)
	}
	cases := []struct {
		field string
		edit  func(d *matchingv1.Driver)
	}{
		{"driver.name", func(d *matchingv1.Driver) { d.Name = "" }},
		{"driver.name", func(d *matchingv1.Driver) { d.Name = long(201) }},
		{"driver.name", func(d *matchingv1.Driver) { d.Name = "Dana\x00" }},
		{"driver.city", func(d *matchingv1.Driver) { d.City = "" }},
		{"driver.city", func(d *matchingv1.Driver) { d.City = "Berlin" }},
		{"driver.city", func(d *matchingv1.Driver) { d.City = long(65) }},
		{"driver.vehicle", func(d *matchingv1.Driver) { d.Vehicle = nil }},
		{"driver.vehicle.plate", func(d *matchingv1.Driver) { d.Vehicle.Plate = "" }},
		{"driver.vehicle.plate", func(d *matchingv1.Driver) { d.Vehicle.Plate = long(21) }},
		{"driver.vehicle.model", func(d *matchingv1.Driver) { d.Vehicle.Model = "" }},
		{"driver.vehicle.products", func(d *matchingv1.Driver) { d.Vehicle.Products = nil }},
		{"driver.vehicle.products", func(d *matchingv1.Driver) {
			d.Vehicle.Products = []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"}
		}},
		{"driver.vehicle.products[1]", func(d *matchingv1.Driver) { d.Vehicle.Products = []string{"standard", "XL"} }},
		{"driver.vehicle.products[1]", func(d *matchingv1.Driver) { d.Vehicle.Products = []string{"xl", "xl"} }},
		{"driver.vehicle.products[0]", func(d *matchingv1.Driver) { d.Vehicle.Products = []string{long(33)} }},
		{"driver.sub_status", func(d *matchingv1.Driver) { d.SubStatus = "On Break" }},
	}
	for _, c := range cases {
		d := newDriver()
		c.edit(d)
		_, err := h.operator.CreateDriver(grpctest.Context(t), &matchingv1.CreateDriverRequest{Driver: d})
		grpctest.WantField(t, err, c.field)
	}
	_, err := h.operator.CreateDriver(grpctest.Context(t), &matchingv1.CreateDriverRequest{})
	grpctest.WantField(t, err, "driver")
	_, err = h.operator.CreateDriver(grpctest.Context(t), &matchingv1.CreateDriverRequest{Driver: newDriver(), RequestId: long(65)})
	grpctest.WantField(t, err, "request_id")
	// Only operators register drivers.
	for name, c := range map[string]matchingv1.MatchingServiceClient{"service": h.service, "customer": h.customer, "driver": h.as(ids.New())} {
		_, err := c.CreateDriver(grpctest.Context(t), &matchingv1.CreateDriverRequest{Driver: newDriver()})
		if grpctest.WantCode(t, err, codes.PermissionDenied); err == nil {
			t.Fatalf("%s created a driver", name)
		}
	}
	if n := h.count(t, "driver"); n != 0 {
		t.Fatalf("refused creates wrote %d drivers", n)
	}
}

// TestCreateDriverIdempotent: a retry returns the first call's driver and creates no
// second one; the same request id with another driver is refused; concurrent retries
// create one driver.
func TestCreateDriverIdempotent(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := grpctest.Context(t)
	d := newDriver()
	req := &matchingv1.CreateDriverRequest{Driver: d, RequestId: "create-1"}
	first, err := h.operator.CreateDriver(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := h.operator.CreateDriver(ctx, req)
	if err != nil || !proto.Equal(again.GetDriver(), first.GetDriver()) {
		t.Fatalf("retry = %v, %v; want %v", again, err, first)
	}
	other := newDriver()
	_, err = h.operator.CreateDriver(ctx, &matchingv1.CreateDriverRequest{Driver: other, RequestId: "create-1"})
	grpctest.WantReason(t, err, codes.InvalidArgument, "REQUEST_ID_REUSED")
	if n := h.count(t, "driver"); n != 1 {
		t.Fatalf("%d drivers after a retry, want 1", n)
	}

	// Concurrent first calls with one request id: one driver; every success the same.
	race := &matchingv1.CreateDriverRequest{Driver: newDriver(), RequestId: "create-race"}
	var mu sync.Mutex
	var got []*matchingv1.Driver
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			resp, err := h.operator.CreateDriver(ctx, race)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				got = append(got, resp.GetDriver())
			case grpctest.Reason(err) != "REQUEST_IN_PROGRESS":
				t.Errorf("concurrent retry: %v", err)
			}
		})
	}
	wg.Wait()
	if len(got) == 0 {
		t.Fatal("no concurrent call succeeded")
	}
	for _, g := range got[1:] {
		if !proto.Equal(g, got[0]) {
			t.Fatalf("concurrent retries answered %v and %v", got[0], g)
		}
	}
	if n := h.count(t, "driver"); n != 2 {
		t.Fatalf("%d drivers after concurrent retries, want 2", n)
	}
}

// TestPlateUniquePerCity: a plate is taken per city, whatever its case.
func TestPlateUniquePerCity(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := grpctest.Context(t)
	d := h.create(t, newDriver())
	dup := newDriver()
	dup.Vehicle.Plate = d.GetVehicle().GetPlate()
	_, err := h.operator.CreateDriver(ctx, &matchingv1.CreateDriverRequest{Driver: dup})
	grpctest.WantReason(t, err, codes.AlreadyExists, matching.ReasonPlateTaken)
	lower := newDriver()
	lower.Vehicle.Plate = strings.ToLower(d.GetVehicle().GetPlate()) // the same plate in other letters' case
	_, err = h.operator.CreateDriver(ctx, &matchingv1.CreateDriverRequest{Driver: lower})
	grpctest.WantReason(t, err, codes.AlreadyExists, matching.ReasonPlateTaken)
	dup.City = "hamburg"
	h.create(t, dup) // another city
	// A plate taken by an update.
	e := h.create(t, newDriver())
	_, err = h.operator.UpdateDriver(ctx, &matchingv1.UpdateDriverRequest{
		Driver: &matchingv1.Driver{Id: e.GetId(), Vehicle: &matchingv1.Vehicle{Plate: d.GetVehicle().GetPlate()}}, UpdateMask: mask("vehicle.plate"),
	})
	grpctest.WantReason(t, err, codes.AlreadyExists, matching.ReasonPlateTaken)
}

// TestListDrivers pages through drivers oldest first, with filters, and refuses tokens
// of other filters and page sizes out of range.
func TestListDrivers(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := grpctest.Context(t)
	var all []*matchingv1.Driver
	for i := range 7 {
		d := newDriver()
		if i%3 == 0 {
			d.City = "hamburg"
		}
		all = append(all, h.create(t, d))
	}
	if _, err := h.operator.SetDriverAvailability(ctx, &matchingv1.SetDriverAvailabilityRequest{DriverId: all[1].GetId(), Online: true}); err != nil {
		t.Fatal(err)
	}
	list := func(req *matchingv1.ListDriversRequest) []string {
		t.Helper()
		var got []string
		for {
			resp, err := h.service.ListDrivers(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.GetDrivers()) > int(max(req.GetPageSize(), 1)) && req.GetPageSize() > 0 {
				t.Fatalf("page of %d, asked %d", len(resp.GetDrivers()), req.GetPageSize())
			}
			for _, d := range resp.GetDrivers() {
				got = append(got, d.GetId())
			}
			if resp.GetNextPageToken() == "" {
				return got
			}
			req = proto.CloneOf(req)
			req.PageToken = resp.GetNextPageToken()
		}
	}
	var want, hamburg []string
	for i, d := range all {
		want = append(want, d.GetId())
		if i%3 == 0 {
			hamburg = append(hamburg, d.GetId())
		}
	}
	eq := func(got, want []string) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if got[i] != want[i] {
				return false
			}
		}
		return true
	}
	if got := list(&matchingv1.ListDriversRequest{PageSize: 3}); !eq(got, want) {
		t.Fatalf("all drivers = %v, want %v", got, want)
	}
	if got := list(&matchingv1.ListDriversRequest{PageSize: 2, City: "hamburg"}); !eq(got, hamburg) {
		t.Fatalf("hamburg = %v, want %v", got, hamburg)
	}
	if got := list(&matchingv1.ListDriversRequest{Status: matchingv1.DriverStatus_DRIVER_STATUS_AVAILABLE}); !eq(got, want[1:2]) {
		t.Fatalf("available = %v, want %v", got, want[1:2])
	}
	first, err := h.operator.ListDrivers(ctx, &matchingv1.ListDriversRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.operator.ListDrivers(ctx, &matchingv1.ListDriversRequest{PageSize: 1, City: "hamburg", PageToken: first.GetNextPageToken()})
	grpctest.WantField(t, err, "page_token")
	_, err = h.operator.ListDrivers(ctx, &matchingv1.ListDriversRequest{PageToken: "garbage"})
	grpctest.WantField(t, err, "page_token")
	for _, size := range []int32{-1, 501} {
		_, err = h.operator.ListDrivers(ctx, &matchingv1.ListDriversRequest{PageSize: size})
		grpctest.WantField(t, err, "page_size")
	}
	_, err = h.operator.ListDrivers(ctx, &matchingv1.ListDriversRequest{City: "Not A City"})
	grpctest.WantField(t, err, "city")
	_, err = h.operator.ListDrivers(ctx, &matchingv1.ListDriversRequest{Status: 9})
	grpctest.WantField(t, err, "status")
	_, err = h.as(all[0].GetId()).ListDrivers(ctx, &matchingv1.ListDriversRequest{})
	grpctest.WantCode(t, err, codes.PermissionDenied)
}

// TestUpdateDriver: operators change any field (city and vehicle only while OFFLINE),
// drivers only their own sub_status; versions guard concurrent changes; a retry replays
// the first result; bad input names the field and writes nothing.
func TestUpdateDriver(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := grpctest.Context(t)
	d := h.create(t, newDriver())
	id := d.GetId()
	update := func(c matchingv1.MatchingServiceClient, patch *matchingv1.Driver, paths ...string) (*matchingv1.Driver, error) {
		patch.Id = id
		resp, err := c.UpdateDriver(ctx, &matchingv1.UpdateDriverRequest{Driver: patch, UpdateMask: mask(paths...)})
		return resp.GetDriver(), err
	}
	got, err := update(h.operator, &matchingv1.Driver{Name: "Dana D.", Vehicle: &matchingv1.Vehicle{Products: []string{"xl"}}}, "name", "vehicle.products")
	if err != nil || got.GetName() != "Dana D." || got.GetVersion() != 2 || got.GetVehicle().GetProducts()[0] != "xl" ||
		got.GetVehicle().GetPlate() != d.GetVehicle().GetPlate() {
		t.Fatalf("update = %v, %v", got, err)
	}
	// Nothing changes: same version.
	if same, err := update(h.operator, &matchingv1.Driver{Name: "Dana D."}, "name"); err != nil || same.GetVersion() != 2 {
		t.Fatalf("an update that changes nothing = %v, %v", same, err)
	}
	// A stale version.
	_, err = update(h.operator, &matchingv1.Driver{Name: "X", Version: 1}, "name")
	grpctest.WantReason(t, err, codes.Aborted, matching.ReasonStaleVersion)
	// The driver: their own sub_status only.
	self := h.as(id)
	if got, err := update(self, &matchingv1.Driver{SubStatus: "on_break"}, "sub_status"); err != nil || got.GetSubStatus() != "on_break" || got.GetVersion() != 3 {
		t.Fatalf("driver's own sub_status = %v, %v", got, err)
	}
	_, err = update(self, &matchingv1.Driver{Name: "Me"}, "name")
	info := grpctest.WantReason(t, err, codes.PermissionDenied, errs.ReasonFieldNotSettable)
	if info.GetMetadata()["field"] != "driver.name" {
		t.Fatalf("FIELD_NOT_SETTABLE names %q", info.GetMetadata()["field"])
	}
	_, err = update(h.as(ids.New()), &matchingv1.Driver{SubStatus: "x"}, "sub_status")
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = update(h.customer, &matchingv1.Driver{SubStatus: "x"}, "sub_status")
	grpctest.WantCode(t, err, codes.PermissionDenied)
	// City and vehicle only while OFFLINE.
	if _, err := self.SetDriverAvailability(ctx, &matchingv1.SetDriverAvailabilityRequest{DriverId: id, Online: true}); err != nil {
		t.Fatal(err)
	}
	_, err = update(h.operator, &matchingv1.Driver{City: "hamburg"}, "city")
	grpctest.WantReason(t, err, codes.FailedPrecondition, matching.ReasonDriverNotOffline)
	_, err = update(h.operator, &matchingv1.Driver{Vehicle: &matchingv1.Vehicle{Model: "VW ID.3"}}, "vehicle.model")
	grpctest.WantReason(t, err, codes.FailedPrecondition, matching.ReasonDriverNotOffline)
	if got, err := update(h.operator, &matchingv1.Driver{Name: "Dana"}, "name"); err != nil || got.GetName() != "Dana" {
		t.Fatalf("name while online = %v, %v", got, err)
	}
	// Bad input.
	before, err := h.operator.GetDriver(ctx, &matchingv1.GetDriverRequest{DriverId: id})
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		field string
		patch *matchingv1.Driver
		paths []string
	}{
		{"update_mask", &matchingv1.Driver{}, nil},
		{"update_mask", &matchingv1.Driver{}, []string{"status"}},
		{"update_mask", &matchingv1.Driver{}, []string{"last_location"}},
		{"driver.name", &matchingv1.Driver{}, []string{"name"}},
		{"driver.city", &matchingv1.Driver{City: "Hamburg"}, []string{"city"}},
		{"driver.vehicle.plate", &matchingv1.Driver{}, []string{"vehicle"}},
		{"driver.vehicle.products", &matchingv1.Driver{}, []string{"vehicle.products"}},
		{"driver.sub_status", &matchingv1.Driver{SubStatus: "-"}, []string{"sub_status"}},
		{"driver.version", &matchingv1.Driver{Name: "x", Version: -1}, []string{"name"}},
	}
	for _, b := range bad {
		_, err := update(h.operator, b.patch, b.paths...)
		grpctest.WantField(t, err, b.field)
	}
	_, err = h.operator.UpdateDriver(ctx, &matchingv1.UpdateDriverRequest{Driver: &matchingv1.Driver{Name: "x"}, UpdateMask: mask("name")})
	grpctest.WantField(t, err, "driver.id")
	_, err = h.operator.UpdateDriver(ctx, &matchingv1.UpdateDriverRequest{Driver: &matchingv1.Driver{Id: id, Name: "x"}})
	grpctest.WantField(t, err, "update_mask")
	_, err = h.operator.UpdateDriver(ctx, &matchingv1.UpdateDriverRequest{Driver: &matchingv1.Driver{Id: ids.New(), Name: "x"}, UpdateMask: mask("name")})
	grpctest.WantCode(t, err, codes.NotFound)
	after, err := h.operator.GetDriver(ctx, &matchingv1.GetDriverRequest{DriverId: id})
	if err != nil || !proto.Equal(after, before) {
		t.Fatalf("refused updates changed the driver: %v, was %v", after, before)
	}
	// A retry replays the first result, even after a later change.
	req := &matchingv1.UpdateDriverRequest{Driver: &matchingv1.Driver{Id: id, SubStatus: "documents_expiring"}, UpdateMask: mask("sub_status"), RequestId: "upd-1"}
	first, err := h.operator.UpdateDriver(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := update(h.operator, &matchingv1.Driver{SubStatus: ""}, "sub_status"); err != nil {
		t.Fatal(err)
	}
	again, err := h.operator.UpdateDriver(ctx, req)
	if err != nil || !proto.Equal(again.GetDriver(), first.GetDriver()) {
		t.Fatalf("retry = %v, %v; want %v", again, err, first)
	}
	req.Driver.SubStatus = "other"
	_, err = h.operator.UpdateDriver(ctx, req)
	grpctest.WantReason(t, err, codes.InvalidArgument, "REQUEST_ID_REUSED")
}

// TestAvailability: OFFLINE ⇄ AVAILABLE by the driver or an operator, asking for the
// current state changes nothing, another driver is refused, each change emits
// matching.driver.availability_changed, which Subscribe serves.
func TestAvailability(t *testing.T) {
	t.Parallel()
	h := start(t)
	ctx := grpctest.Context(t)
	d := h.create(t, newDriver())
	id := d.GetId()
	self := h.as(id)
	set := func(c matchingv1.MatchingServiceClient, online bool, requestID string) (*matchingv1.Driver, error) {
		resp, err := c.SetDriverAvailability(ctx, &matchingv1.SetDriverAvailabilityRequest{DriverId: id, Online: online, RequestId: requestID})
		return resp.GetDriver(), err
	}
	on, err := set(self, true, "on-1")
	if err != nil || on.GetStatus() != matchingv1.DriverStatus_DRIVER_STATUS_AVAILABLE || on.GetVersion() != 2 {
		t.Fatalf("online = %v, %v", on, err)
	}
	if again, err := set(self, true, ""); err != nil || again.GetVersion() != 2 {
		t.Fatalf("online again = %v, %v; want no change", again, err)
	}
	if replay, err := set(self, true, "on-1"); err != nil || !proto.Equal(replay, on) {
		t.Fatalf("replay = %v, %v", replay, err)
	}
	_, err = set(self, false, "on-1")
	grpctest.WantReason(t, err, codes.InvalidArgument, "REQUEST_ID_REUSED")
	_, err = set(h.as(ids.New()), false, "")
	grpctest.WantCode(t, err, codes.PermissionDenied)
	_, err = set(h.customer, false, "")
	grpctest.WantCode(t, err, codes.PermissionDenied)
	off, err := set(h.operator, false, "")
	if err != nil || off.GetStatus() != matchingv1.DriverStatus_DRIVER_STATUS_OFFLINE || off.GetVersion() != 3 {
		t.Fatalf("offline = %v, %v", off, err)
	}
	_, err = h.operator.SetDriverAvailability(ctx, &matchingv1.SetDriverAvailabilityRequest{})
	grpctest.WantField(t, err, "driver_id")
	_, err = h.operator.SetDriverAvailability(ctx, &matchingv1.SetDriverAvailabilityRequest{DriverId: ids.New(), Online: true})
	grpctest.WantCode(t, err, codes.NotFound)

	// The two changes, in order, through the event stream.
	events := eventsv1.NewEventStreamServiceClient(h.srv.Conn(auth.Identity{Subject: "trip", Role: auth.RoleService}))
	stream, err := events.Subscribe(ctx, &eventsv1.SubscribeRequest{Service: "matching"})
	if err != nil {
		t.Fatal(err)
	}
	var got []*matchingv1.DriverAvailabilityChangedEvent
	for len(got) < 2 {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		ev := resp.GetEvent()
		if ev == nil {
			continue // a heartbeat
		}
		if ev.GetType() != matching.EventTypeDriverAvailabilityChanged || ev.GetKey() != id {
			t.Fatalf("event %s key %s", ev.GetType(), ev.GetKey())
		}
		var p matchingv1.DriverAvailabilityChangedEvent
		if err := ev.GetPayload().UnmarshalTo(&p); err != nil {
			t.Fatal(err)
		}
		got = append(got, &p)
	}
	if got[0].GetPreviousStatus() != matchingv1.DriverStatus_DRIVER_STATUS_OFFLINE || !proto.Equal(got[0].GetDriver(), on) ||
		got[1].GetPreviousStatus() != matchingv1.DriverStatus_DRIVER_STATUS_AVAILABLE || got[1].GetDriver().GetVersion() != 3 {
		t.Fatalf("events %v", got)
	}
}
