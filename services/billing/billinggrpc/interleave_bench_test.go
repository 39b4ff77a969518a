package billinggrpc_test

import (
	"context"
	"slices"
	"testing"
	"time"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
)

// panelOp is one way of answering a panel page, named for the report.
type panelOp struct {
	name string
	op   func(context.Context) error
}

// runInterleaved runs one page of each op per iteration, starting with a different op
// each time, so that every op sees the same moments of a noisy machine. It reports each
// op's p50 and p99 (ms) and, for every op after the first (the baseline), its p50 and
// p99 divided by the baseline's.
func runInterleaved(b *testing.B, ops []panelOp) {
	ctx := context.Background()
	for _, o := range ops {
		for range 5 {
			if err := o.op(ctx); err != nil {
				b.Fatal(o.name, err)
			}
		}
	}
	lat := make([][]time.Duration, len(ops))
	b.ResetTimer()
	for i := range b.N {
		for k := range ops {
			j := (i + k) % len(ops)
			t0 := time.Now()
			if err := ops[j].op(ctx); err != nil {
				b.Fatal(ops[j].name, err)
			}
			lat[j] = append(lat[j], time.Since(t0))
		}
	}
	b.StopTimer()
	pct := func(l []time.Duration, p float64) float64 {
		return float64(l[min(len(l)-1, int(p*float64(len(l))))].Microseconds()) / 1000
	}
	for j := range lat {
		slices.Sort(lat[j])
	}
	base50, base99 := pct(lat[0], 0.50), pct(lat[0], 0.99)
	for j, o := range ops {
		p50, p99 := pct(lat[j], 0.50), pct(lat[j], 0.99)
		b.ReportMetric(p50, o.name+"-p50-ms")
		b.ReportMetric(p99, o.name+"-p99-ms")
		if j > 0 {
			b.ReportMetric(p50/base50, o.name+"/"+ops[0].name+"-p50")
			b.ReportMetric(p99/base99, o.name+"/"+ops[0].name+"-p99")
		}
	}
}

// checkSamePage fails the benchmark unless the fair monolith's FULL page equals
// billing's (samePage), through each of billings: the page before and after billing
// keeps the details, and without keeping them.
func checkSamePage(b *testing.B, monolith billingv1.BillingServiceClient, billings ...billingv1.BillingServiceClient) {
	b.Helper()
	ctx := context.Background()
	req := &billingv1.ListBillsRequest{PageSize: benchBills, View: typev1.View_VIEW_FULL}
	want, err := monolith.ListBills(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	for i, c := range billings {
		for round := range 2 {
			got, err := c.ListBills(ctx, req)
			if err != nil {
				b.Fatal(err)
			}
			if !samePage(want, got) {
				b.Fatalf("billing %d (page %d): its FULL page differs from the fair monolith's\nmonolith: %v\nbilling:  %v",
					i, round, want.GetBills()[0].GetItems()[0], got.GetBills()[0].GetItems()[0])
			}
		}
	}
}
