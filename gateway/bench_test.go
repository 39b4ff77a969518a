package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	billingv1 "github.com/waybill/waybill/gen/waybill/billing/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpcclient"
)

// smallBilling answers GetBill with a small bill: the "small call" of target G1.
type smallBilling struct {
	billingv1.UnimplementedBillingServiceServer
}

func (smallBilling) GetBill(_ context.Context, req *billingv1.GetBillRequest) (*billingv1.GetBillResponse, error) {
	return &billingv1.GetBillResponse{Bill: &billingv1.Bill{Id: req.GetBillId(), CustomerId: "cust-1", CurrencyCode: "EUR",
		Status: billingv1.BillStatus_BILL_STATUS_OPEN, Version: 1}}, nil
}

// BenchmarkGateway measures target G1 (../shared/PERFORMANCE.md): one small call, GetBill,
// made directly over gRPC and through the REST gateway (token verified at the edge, JSON
// transcoding, the gRPC hop), against the same gRPC server over loopback. The latency
// sub-benchmarks make one call at a time and report p50/p99 in µs; the throughput ones
// make calls from 8 goroutines per CPU and report calls/s.
func BenchmarkGateway(b *testing.B) {
	addr := serveBackend(b, func(s *grpc.Server) { billingv1.RegisterBillingServiceServer(s, smallBilling{}) })
	token, err := testSigner.Sign(auth.Identity{Subject: "ops-anna", Role: auth.RoleOperator}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	hts := serveGateway(b, addr, Config{Timeout: 10 * time.Second})

	conn, err := grpcclient.Dial(addr, grpcclient.Options{Timeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	direct := billingv1.NewBillingServiceClient(conn)
	const billID = "0f8fad5b-d9cb-469f-a165-70867728950e"
	viaGRPC := func() error {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
		resp, err := direct.GetBill(ctx, &billingv1.GetBillRequest{BillId: billID})
		if err == nil && resp.GetBill().GetId() != billID {
			err = fmt.Errorf("got bill %q", resp.GetBill().GetId())
		}
		return err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}
	viaREST := func() error {
		req, err := http.NewRequest(http.MethodGet, hts.URL+"/v1/bills/"+billID, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET: %d %s", resp.StatusCode, body)
		}
		return err
	}

	for _, path := range []struct {
		name string
		call func() error
	}{{"grpc", viaGRPC}, {"rest", viaREST}} {
		b.Run("latency/"+path.name, func(b *testing.B) {
			for range 200 { // warm up connections and caches
				if err := path.call(); err != nil {
					b.Fatal(err)
				}
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				if err := path.call(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Nanoseconds())/1e3, "p99-µs")
		})
		b.Run("throughput/"+path.name, func(b *testing.B) {
			b.SetParallelism(8)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := path.call(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
		})
	}
}
