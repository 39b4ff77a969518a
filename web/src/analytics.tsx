// The analytics dashboard (operators): the KPIs of a date range from AnalyticsService
// (QueryKpis) as totals and as daily bar charts drawn in SVG, and the raised alerts.

import { unwrap, type Schemas, type WaybillClient } from "@waybill/sdk";
import { useCallback, useEffect, useState } from "preact/hooks";

import { Busy, ErrorBox, money, run, time } from "./ui";

type Row = Schemas["KpiRow"];

function isoDate(offsetDays: number): string {
  return new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);
}

function parts(d: string) {
  const [year, month, day] = d.split("-").map(Number);
  return { year, month, day };
}

function num(v: string | number | undefined): number {
  return Number(v ?? 0);
}

function pct(v: number | undefined): string {
  return v === undefined ? "—" : `${(v * 100).toFixed(1)} %`;
}

/** minor returns a Money's amount in major units, for charts. */
function major(m: Schemas["Money"] | undefined): number {
  return m ? Number(m.amountMinor ?? 0) / 100 : 0;
}

/** Bars is a small bar chart of one value per period. */
function Bars({ title, rows, value, format }: { title: string; rows: Row[]; value(r: Row): number; format?(v: number): string }) {
  const w = 360;
  const h = 120;
  const vals = rows.map(value);
  const top = Math.max(1, ...vals);
  const bw = rows.length ? w / rows.length : w;
  return (
    <figure class="chart" data-testid={`chart-${title}`}>
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${w} ${h + 16}`} role="img" aria-label={title}>
        {rows.map((r, i) => {
          const bh = (vals[i] / top) * h;
          const d = r.periodStart;
          return (
            <g key={i}>
              <rect x={i * bw + 1} y={h - bh} width={Math.max(1, bw - 2)} height={bh} class="bar">
                <title>
                  {d ? `${d.year}-${d.month}-${d.day}` : ""}: {format ? format(vals[i]) : vals[i]}
                </title>
              </rect>
              {rows.length <= 16 && d && (
                <text x={i * bw + bw / 2} y={h + 12} class="axis" text-anchor="middle">
                  {d.day}
                </text>
              )}
            </g>
          );
        })}
        <line x1={0} y1={h} x2={w} y2={h} class="axis-line" />
      </svg>
    </figure>
  );
}

/** Analytics is the KPI dashboard. */
export function Analytics({ client }: { client: WaybillClient }) {
  const [range, setRange] = useState({ start: isoDate(-7), end: isoDate(14) });
  const [total, setTotal] = useState<Row | null>(null);
  const [days, setDays] = useState<Row[]>([]);
  const [alerts, setAlerts] = useState<Schemas["AnalyticsAlert"][]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(async () => {
    await run(setBusy, setError, async () => {
      const q = (granularity: "GRANULARITY_TOTAL" | "GRANULARITY_DAY") => {
        const a = parts(range.start);
        const b = parts(range.end);
        return client.GET("/v1/analytics/kpis", {
          params: {
            query: {
              "startDate.year": a.year,
              "startDate.month": a.month,
              "startDate.day": a.day,
              "endDate.year": b.year,
              "endDate.month": b.month,
              "endDate.day": b.day,
              granularity,
            },
          },
        });
      };
      const [t, d, al] = await Promise.all([q("GRANULARITY_TOTAL"), q("GRANULARITY_DAY"), client.GET("/v1/analytics/alerts", {})]);
      setTotal(unwrap(t).rows?.[0] ?? {});
      setDays(unwrap(d).rows ?? []);
      setAlerts(al.response.ok ? (al.data?.alerts ?? []) : []);
    });
  }, [client, range]);
  useEffect(() => {
    void load();
  }, [load]);

  const eur = (r: Row) => r.currencies?.find((c) => c.currencyCode === "EUR") ?? r.currencies?.[0];
  const cards: [string, string][] = total
    ? [
        ["Bookings", String(num(total.bookings?.bookings))],
        ["Cancellation rate", pct(total.bookings?.cancellationRate)],
        ["Seat load factor", pct(total.seats?.loadFactor)],
        ["Occupancy", pct(total.stays?.occupancy)],
        ["Gross revenue", money(eur(total)?.grossRevenue)],
        ["Outstanding", money(eur(total)?.outstandingReceivables)],
        ["Rides completed", String(num(total.rides?.tripsCompleted))],
        ["Ride completion", pct(total.rides?.completionRate)],
        ["Payment failures", pct(total.payments?.failureRate)],
      ]
    : [];

  return (
    <section>
      <h1>Analytics</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void load();
        }}
      >
        <label>
          From <input type="date" name="start" value={range.start} onInput={(e) => setRange({ ...range, start: e.currentTarget.value })} />
        </label>
        <label>
          To <input type="date" name="end" value={range.end} onInput={(e) => setRange({ ...range, end: e.currentTarget.value })} />
        </label>
        <button type="submit" disabled={busy}>
          Show
        </button>
        {busy && <Busy />}
      </form>
      <ErrorBox error={error} />
      <div class="kpis">
        {cards.map(([name, v]) => (
          <div class="kpi" key={name} data-kpi={name}>
            <div class="kpi-name">{name}</div>
            <div class="kpi-value">{v}</div>
          </div>
        ))}
      </div>
      {days.length > 0 && (
        <div class="charts">
          <Bars title="Bookings" rows={days} value={(r) => num(r.bookings?.bookings)} />
          <Bars title="Seats sold" rows={days} value={(r) => num(r.seats?.seatsSold)} />
          <Bars title="Room-nights sold" rows={days} value={(r) => num(r.stays?.roomNightsSold)} />
          <Bars title="Gross revenue (EUR)" rows={days} value={(r) => major(eur(r)?.grossRevenue)} format={(v) => v.toFixed(2)} />
          <Bars title="Rides completed" rows={days} value={(r) => num(r.rides?.tripsCompleted)} />
        </div>
      )}
      <h2>Alerts</h2>
      {alerts.length === 0 ? (
        <p class="empty">No alerts raised.</p>
      ) : (
        <ul>
          {alerts.map((a) => (
            <li key={a.id}>
              {time(a.raiseTime)} · {a.message} {a.clearTime && <span class="muted">(cleared {time(a.clearTime)})</span>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
