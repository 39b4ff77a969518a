package matching_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/waybill/waybill/services/matching/matching"
)

// gcCityDriver is driver i of the gRPC benchmark's city (matchinggrpc/bench_test.go) as
// storage gives it to the index: with its whole record, which searches answer with.
func gcCityDriver(r *rand.Rand, i int) matching.Tracked {
	status := matching.StatusAvailable
	if r.IntN(100) < 15 {
		status = matching.StatusOnTrip
	}
	f := matching.Fix{Point: hotspotPoint(r), Time: t0.Add(-time.Duration(r.IntN(30)) * time.Second), AccuracyMeters: 5}
	// Strings as pgx scans them: each its own allocation.
	id := fmt.Sprintf("%08x-0000-4000-8000-%012x", r.Uint32(), i)
	d := matching.Driver{
		ID: id, Name: string([]byte("Dana Driver")), City: string([]byte("berlin")), Status: status,
		Vehicle:    matching.Vehicle{Plate: fmt.Sprintf("B-M1 %d", i), Model: string([]byte("Toyota Prius")), Products: []string{string([]byte("standard"))}},
		CreateTime: t0, UpdateTime: t0, Version: 1,
	}
	return matching.Tracked{ID: id, Status: status, Products: d.Vehicle.Products, Version: 1, Location: &f, Driver: d}
}

// BenchmarkIndexGC measures what 100,000 drivers in the Index cost the garbage
// collector, the cost M1's tail latency over gRPC pays in every cycle: the heap objects
// and bytes the index holds (live after a collection, the rebuild's garbage gone), and
// the CPU time of one full collection with nothing else live (gc-cpu-ms/cycle: the
// mark work grows with the objects and pointers to trace; ns/op is its wall time, which
// a loaded machine stretches). It also reports the allocations of a
// location update that moves a driver (a new coordinate: the spot and tree node
// churn), per update.
//
//	go test -run '^$' -bench IndexGC -benchtime 20x -count 3 ./services/matching/matching/
func BenchmarkIndexGC(b *testing.B) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := matching.NewIndex(matching.IndexOptions{Now: func() time.Time { return t0 }, StaleAfter: time.Hour})
	r := rand.New(rand.NewPCG(2026, 12))
	ids := make([]string, benchDrivers)
	for i := range benchDrivers {
		t := gcCityDriver(r, i)
		ids[i] = t.ID
		x.Apply(t)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// Moving updates: each driver's next fix a few meters away (one of the 200 the
	// gRPC benchmark streams).
	movers := slices.Clone(ids[:200])
	at := t0
	n := 0
	allocs := testing.AllocsPerRun(20_000, func() {
		id := movers[n%len(movers)]
		n++
		at = at.Add(time.Microsecond)
		p := hotspotPoint(r)
		x.Locate(id, matching.Fix{Point: p, Time: at})
	})
	x.TakeDirty()
	gcCPU := func() float64 { // this process's CPU seconds: nothing but the collections runs
		var u syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
			b.Fatal(err)
		}
		return time.Duration(u.Utime.Nano() + u.Stime.Nano()).Seconds()
	}
	cpu0 := gcCPU()
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	b.StopTimer()
	b.ReportMetric((gcCPU()-cpu0)/float64(b.N)*1e3, "gc-cpu-ms/cycle")
	b.ReportMetric(float64(after.HeapObjects-before.HeapObjects), "index-objects")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "index-MiB")
	b.ReportMetric(allocs, "allocs/update")
	runtime.KeepAlive(x)
	runtime.KeepAlive(ids)
}
