// Package telemetry sets up OpenTelemetry for a Waybill process: a tracer provider
// (exporting over OTLP/gRPC when OTEL_EXPORTER_OTLP_ENDPOINT is set), W3C trace-context
// propagation, and a meter provider whose metrics are served in the Prometheus format.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry holds one process's tracer and meter providers and its Prometheus registry.
type Telemetry struct {
	// TracerProvider creates spans; it is also installed as the global provider.
	TracerProvider trace.TracerProvider
	// MeterProvider creates instruments; it is also installed as the global provider.
	MeterProvider metric.MeterProvider
	// Registry is the Prometheus registry that MetricsHandler serves.
	Registry *promclient.Registry

	shutdown []func(context.Context) error
}

// Setup creates the providers for the named service and installs them globally, so
// instrumentation libraries (otelgrpc, otelpgx) find them. getenv is used to read the
// standard OTEL_EXPORTER_OTLP_ENDPOINT variable.
func Setup(ctx context.Context, service string, getenv func(string) string) (*Telemetry, error) {
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("waybill-"+service))

	reg := promclient.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(exporter))

	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" {
		te, err := otlptracegrpc.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp trace exporter: %w", err)
		}
		topts = append(topts, sdktrace.WithBatcher(te))
	}
	tp := sdktrace.NewTracerProvider(topts...)

	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	return &Telemetry{
		TracerProvider: tp,
		MeterProvider:  mp,
		Registry:       reg,
		shutdown:       []func(context.Context) error{tp.Shutdown, mp.Shutdown},
	}, nil
}

// MetricsHandler serves the process's metrics in the Prometheus text format.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.Registry, promhttp.HandlerOpts{})
}

// Shutdown flushes and stops the providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}
