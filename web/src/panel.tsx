// The operator panel: bills with their items, filtered and paged by ListBills (VIEW_BASIC,
// billing's own tables), kept live by WatchBills without reloading, with the FULL view of
// one bill on demand, the operator's actions, and a degraded state when a provider is down
// (from WatchBills' freshness messages and the gateway's /healthz).

import { ApiError, Codes, unwrap, watchBills, type Schemas, type WaybillClient } from "@waybill/sdk";
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";

import { Badge, Busy, ErrorBox, label, money, run, statusTone, time } from "./ui";

type Bill = Schemas["Bill"];
type Item = Schemas["BillItem"];
type BillStatus = Schemas["BillStatus"];
type Kind = Schemas["Kind"];

const statuses: BillStatus[] = [
  "BILL_STATUS_OPEN",
  "BILL_STATUS_FINALIZED",
  "BILL_STATUS_PAID",
  "BILL_STATUS_SETTLED",
  "BILL_STATUS_FAILED",
  "BILL_STATUS_CANCELLED",
];
const kinds: Kind[] = ["KIND_FLIGHT", "KIND_TRAIN", "KIND_BUS", "KIND_STAY", "KIND_RIDE"];

/** How long a changed bill or item stays marked. */
const markMs = 10_000;

interface Filters {
  status: BillStatus | "";
  customerId: string;
  kind: Kind | "";
  pageSize: number;
}

/** useProviderHealth polls the gateway's /healthz and returns the services that are not serving. */
function useProviderHealth(): Set<string> {
  const [down, setDown] = useState<Set<string>>(new Set());
  useEffect(() => {
    let stop = false;
    const poll = async () => {
      try {
        const r = await fetch("/healthz", { cache: "no-store" });
        const body = (await r.json()) as { services?: Record<string, string> };
        const next = new Set(Object.entries(body.services ?? {}).filter(([, st]) => st !== "SERVING").map(([n]) => n));
        if (!stop) {
          setDown((prev) => (sameSet(prev, next) ? prev : next));
        }
      } catch {
        // The gateway itself is unreachable: the API calls say so.
      }
    };
    void poll();
    const t = setInterval(poll, 1500);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, []);
  return down;
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

/** Panel is the operator panel page. */
export function Panel({ client }: { client: WaybillClient }) {
  const [filters, setFilters] = useState<Filters>({ status: "", customerId: "", kind: "", pageSize: 50 });
  const [draft, setDraft] = useState<Filters>(filters);
  const [pageTokens, setPageTokens] = useState<string[]>([""]); // the token of every page up to the current one
  const [bills, setBills] = useState<Bill[]>([]);
  const [next, setNext] = useState("");
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [live, setLive] = useState<"connecting" | "live" | "reconnecting" | "stopped">("connecting");
  const [marks, setMarks] = useState<Map<string, number>>(new Map()); // bill or item id → when it changed
  const [freshness, setFreshness] = useState<Map<string, Schemas["FreshnessState"]>>(new Map());
  const [open, setOpen] = useState<string | null>(null);
  const down = useProviderHealth();
  const pageToken = pageTokens[pageTokens.length - 1];
  const firstPage = pageTokens.length === 1;
  const firstPageRef = useRef(firstPage);
  firstPageRef.current = firstPage;
  const billsRef = useRef(bills);
  billsRef.current = bills;

  const load = useCallback(async () => {
    await run(setLoading, setError, async () => {
      const r = unwrap(
        await client.GET("/v1/bills", {
          params: {
            query: {
              statuses: filters.status ? [filters.status] : undefined,
              customerId: filters.customerId || undefined,
              pageSize: filters.pageSize,
              pageToken: pageToken || undefined,
            },
          },
        }),
      );
      setBills(r.bills ?? []);
      setNext(r.nextPageToken ?? "");
    });
  }, [client, filters, pageToken]);

  // Live updates: WatchBills with the same filters. A change of a bill on this page updates
  // it in place and marks it (and the item that changed); a new bill appears on the first
  // page; a bill that left the filter is dropped.
  useEffect(() => {
    const ac = new AbortController();
    setLive("connecting");
    const mark = (...ids: string[]) => {
      const now = Date.now();
      setMarks((prev) => {
        const m = new Map(prev);
        for (const id of ids) {
          m.set(id, now);
        }
        return m;
      });
    };
    const follow = async () => {
      const stream = watchBills(
        client,
        { statuses: filters.status ? [filters.status] : undefined, customerId: filters.customerId || undefined, includeSnapshot: true },
        { signal: ac.signal, onReconnect: () => setLive("reconnecting") },
      );
      // The snapshot (every matching bill as of the log position the stream starts from)
      // brings the shown bills up to date without marking them; what follows is live and
      // marked. A reconnect resumes after the last cursor, without a second snapshot.
      let snapshotDone = false;
      for await (const m of stream) {
        if (snapshotDone) {
          setLive("live");
        }
        if (m.heartbeat) {
          continue;
        }
        if (m.changeType === "BILL_CHANGE_TYPE_SNAPSHOT_COMPLETE") {
          snapshotDone = true;
          setLive("live");
          continue;
        }
        if (m.changeType === "BILL_CHANGE_TYPE_PROVIDER_FRESHNESS_CHANGED" && m.providerFreshness?.provider) {
          const pf = m.providerFreshness;
          setFreshness((prev) => new Map(prev).set(pf.provider!, pf.freshness ?? "FRESHNESS_STATE_UNSPECIFIED"));
          continue;
        }
        const b = m.bill;
        if (!b?.id) {
          continue;
        }
        const id = b.id;
        // Mark only what is newer than what is shown: a new bill on this page, or a higher version.
        const shownNow = billsRef.current.find((x) => x.id === id);
        const snapshot = m.changeType === "BILL_CHANGE_TYPE_SNAPSHOT";
        const newer = shownNow ? Number(b.version ?? 0) > Number(shownNow.version ?? 0) : !snapshot && firstPageRef.current && m.changeType === "BILL_CHANGE_TYPE_CREATED";
        setBills((prev) => {
          const i = prev.findIndex((x) => x.id === id);
          if (m.leftFilter) {
            return i < 0 ? prev : prev.filter((x) => x.id !== id);
          }
          if (i < 0) {
            return firstPageRef.current && m.changeType === "BILL_CHANGE_TYPE_CREATED" ? [b, ...prev] : prev;
          }
          if (Number(prev[i].version ?? 0) > Number(b.version ?? 0)) {
            return prev; // an older state than the one shown
          }
          const copy = prev.slice();
          copy[i] = b;
          return copy;
        });
        if (newer && !snapshot && !m.leftFilter) {
          mark(id, ...(m.itemId ? [m.itemId] : []));
        }
      }
    };
    (async () => {
      for (;;) {
        try {
          await follow();
          return;
        } catch (e) {
          // A cursor older than billing's change log: start again with a snapshot.
          if (!(e instanceof ApiError && e.code === Codes.OUT_OF_RANGE) || ac.signal.aborted) {
            throw e;
          }
          setLive("reconnecting");
        }
      }
    })().catch((e) => {
      if (!ac.signal.aborted) {
        setError(e);
        setLive("stopped");
      }
    });
    return () => ac.abort();
  }, [client, filters.status, filters.customerId]);

  useEffect(() => {
    void load();
  }, [load]);

  // Marks fade after markMs.
  useEffect(() => {
    if (marks.size === 0) {
      return;
    }
    const t = setTimeout(() => {
      const now = Date.now();
      setMarks((prev) => new Map([...prev].filter(([, at]) => now - at < markMs)));
    }, 1000);
    return () => clearTimeout(t);
  }, [marks]);

  const shown = useMemo(
    () => (filters.kind ? bills.filter((b) => (b.items ?? []).some((it) => it.kind === filters.kind)) : bills),
    [bills, filters.kind],
  );
  const providers = useMemo(() => new Set(bills.flatMap((b) => (b.items ?? []).map((it) => it.provider ?? ""))), [bills]);
  const degraded = [...providers].filter((p) => p && (down.has(p) || freshness.get(p) === "FRESHNESS_STATE_STALE"));

  const apply = (e: Event) => {
    e.preventDefault();
    setFilters(draft);
    setPageTokens([""]);
  };

  return (
    <section class="panel">
      <header class="panel-head">
        <h1>Bills</h1>
        <span class={`live live-${live}`} data-testid="live">
          {live === "live" ? "● live" : live === "connecting" ? "connecting…" : live === "reconnecting" ? "reconnecting…" : "not live"}
        </span>
      </header>
      {degraded.length > 0 && (
        <div class="degraded" role="alert" data-testid="degraded">
          {degraded.map((p) => (
            <p key={p}>
              <strong>{p}</strong> is {down.has(p) ? "unavailable" : "behind"}: its items are marked and their details may be out of
              date. Everything else works.
            </p>
          ))}
        </div>
      )}
      <form class="filters" onSubmit={apply}>
        <label>
          Status
          <select name="status" value={draft.status} onChange={(e) => setDraft({ ...draft, status: e.currentTarget.value as BillStatus | "" })}>
            <option value="">any</option>
            {statuses.map((s) => (
              <option key={s} value={s}>
                {label(s, "BILL_STATUS_")}
              </option>
            ))}
          </select>
        </label>
        <label>
          Customer
          <input name="customer" value={draft.customerId} placeholder="customer id" onInput={(e) => setDraft({ ...draft, customerId: e.currentTarget.value })} />
        </label>
        <label>
          Kind
          <select name="kind" value={draft.kind} onChange={(e) => setDraft({ ...draft, kind: e.currentTarget.value as Kind | "" })}>
            <option value="">any</option>
            {kinds.map((k) => (
              <option key={k} value={k}>
                {label(k, "KIND_")}
              </option>
            ))}
          </select>
        </label>
        <label>
          Per page
          <select name="pageSize" value={String(draft.pageSize)} onChange={(e) => setDraft({ ...draft, pageSize: Number(e.currentTarget.value) })}>
            {[10, 20, 50, 100].map((n) => (
              <option key={n} value={String(n)}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Apply</button>
      </form>
      <ErrorBox error={error} />
      <div class="pager">
        <button disabled={firstPage || loading} onClick={() => setPageTokens(pageTokens.slice(0, -1))}>
          ← Previous
        </button>
        <span data-testid="page">
          page {pageTokens.length} · {shown.length} bills {loading && <Busy>loading…</Busy>}
        </span>
        <button disabled={!next || loading} onClick={() => setPageTokens([...pageTokens, next])}>
          Next →
        </button>
      </div>
      <table class="bills">
        <thead>
          <tr>
            <th>Bill</th>
            <th>Customer</th>
            <th>Status</th>
            <th>Items</th>
            <th>Total</th>
            <th>Updated</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((b) => (
            <BillRow
              key={b.id}
              bill={b}
              marks={marks}
              down={down}
              freshness={freshness}
              open={open === b.id}
              onToggle={() => setOpen(open === b.id ? null : b.id!)}
              client={client}
            />
          ))}
        </tbody>
      </table>
      {!loading && shown.length === 0 && <p class="empty">No bills match these filters.</p>}
    </section>
  );
}

/** itemFreshness is the badge of an item: its provider's state when known, else the item's own. */
function itemFreshness(it: Item, down: Set<string>, freshness: Map<string, Schemas["FreshnessState"]>): { tone: string; text: string } {
  if (it.provider && down.has(it.provider)) {
    return { tone: "bad", text: "provider unavailable" };
  }
  const f = (it.provider && freshness.get(it.provider)) || it.freshness;
  switch (f) {
    case "FRESHNESS_STATE_FRESH":
      return { tone: "ok", text: "fresh" };
    case "FRESHNESS_STATE_STALE":
      return { tone: "warn", text: "stale" };
    case "FRESHNESS_STATE_UNAVAILABLE":
      return { tone: "bad", text: "provider unavailable" };
    default:
      return { tone: "neutral", text: "unknown" };
  }
}

interface RowProps {
  bill: Bill;
  marks: Map<string, number>;
  down: Set<string>;
  freshness: Map<string, Schemas["FreshnessState"]>;
  open: boolean;
  onToggle(): void;
  client: WaybillClient;
}

function BillRow({ bill, marks, down, freshness, open, onToggle, client }: RowProps) {
  const changed = marks.has(bill.id!);
  const st = label(bill.status, "BILL_STATUS_");
  return (
    <>
      <tr class={`bill${changed ? " changed" : ""}`} data-bill={bill.id} data-changed={changed ? "true" : undefined}>
        <td>
          <button class="link" onClick={onToggle} aria-expanded={open} title="details (FULL view)">
            {open ? "▾" : "▸"} {bill.id!.slice(0, 8)}
          </button>
        </td>
        <td>{bill.customerId}</td>
        <td>
          <Badge tone={statusTone(st)}>{st}</Badge>
          {bill.subStatus && <span class="sub"> / {bill.subStatus}</span>}
          {bill.paymentSaga && bill.status === "BILL_STATUS_FINALIZED" && (
            <span class="sub"> · paying: {label(bill.paymentSaga.step, "PAYMENT_SAGA_STEP_")}</span>
          )}
        </td>
        <td>
          <ul class="items">
            {(bill.items ?? []).map((it) => {
              const f = itemFreshness(it, down, freshness);
              const itemChanged = marks.has(it.id!);
              return (
                <li
                  key={it.id}
                  class={itemChanged ? "changed" : ""}
                  data-item={it.id}
                  data-provider={it.provider}
                  data-reservation={it.reservationId}
                  data-changed={itemChanged ? "true" : undefined}
                >
                  <span class="kind">{label(it.kind, "KIND_")}</span> <span class="title">{it.title || it.reservationId}</span>{" "}
                  <Badge tone={statusTone(it.mainStatus)}>
                    <span data-testid="item-status">{label(it.mainStatus, "MAIN_STATUS_")}</span>
                    {it.subStatus ? ` / ${it.subStatus}` : ""}
                  </Badge>{" "}
                  <span class="amount">{money(it.amount)}</span>{" "}
                  <span data-testid="freshness">
                    <Badge tone={f.tone} title={it.asOfTime ? `as of ${time(it.asOfTime)}` : undefined}>
                      {f.text}
                    </Badge>
                  </span>
                  {itemChanged && <span class="new-mark"> changed</span>}
                </li>
              );
            })}
            {(bill.items ?? []).length === 0 && <li class="muted">no items</li>}
          </ul>
        </td>
        <td>{(bill.totals ?? []).map((t) => money(t)).join(", ") || "—"}</td>
        <td>{time(bill.updateTime)}</td>
      </tr>
      {open && (
        <tr class="details-row">
          <td colSpan={6}>
            <BillDetails billId={bill.id!} version={bill.version} client={client} />
          </td>
        </tr>
      )}
    </>
  );
}

/** BillDetails fetches one bill in VIEW_FULL (one batched call per provider) and offers the operator's actions. */
function BillDetails({ billId, version, client }: { billId: string; version: string | undefined; client: WaybillClient }) {
  const [bill, setBill] = useState<Bill | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [sub, setSub] = useState("");
  const [reason, setReason] = useState("");
  const [payments, setPayments] = useState<Schemas["Payment"][] | null>(null);

  const load = useCallback(async () => {
    const r = await run(setBusy, setError, async () => unwrap(await client.GET("/v1/bills/{billId}", { params: { path: { billId }, query: { view: "VIEW_FULL" } } })));
    if (r?.bill) {
      setBill(r.bill);
      setSub(r.bill.subStatus ?? "");
    }
  }, [client, billId]);
  useEffect(() => {
    void load();
  }, [load, version]);

  const setSubStatus = async (e: Event) => {
    e.preventDefault();
    const r = await run(setBusy, setError, async () =>
      unwrap(await client.POST("/v1/bills/{billId}:setSubStatus", { params: { path: { billId } }, body: { subStatus: sub } })),
    );
    if (r?.bill) {
      await load();
    }
  };
  const cancel = async () => {
    if (!confirm("Cancel this bill? Its items are released; the reservations stay.")) {
      return;
    }
    const r = await run(setBusy, setError, async () =>
      unwrap(await client.POST("/v1/bills/{billId}:cancel", { params: { path: { billId } }, body: { reason, requestId: crypto.randomUUID() } })),
    );
    if (r?.bill) {
      await load();
    }
  };
  const showPayments = async () => {
    const r = await run(setBusy, setError, async () =>
      unwrap(await client.GET("/v1/payments", { params: { query: { customerId: bill?.customerId, view: "VIEW_FULL" } } })),
    );
    if (r) {
      setPayments(r.payments ?? []);
    }
  };

  return (
    <div class="details" data-testid="details">
      <ErrorBox error={error} />
      {busy && <Busy />}
      {bill && (
        <>
          <p>
            Bill <code>{bill.id}</code> · customer {bill.customerId} · version {bill.version} · opened {time(bill.createTime)}
            {bill.cancelReason && <> · cancelled: {bill.cancelReason}</>}
          </p>
          {bill.paymentSaga && (
            <p>
              Payment saga: {label(bill.paymentSaga.state, "PAYMENT_SAGA_STATE_")} at step {label(bill.paymentSaga.step, "PAYMENT_SAGA_STEP_")}, attempt{" "}
              {bill.paymentSaga.attempt}, {money(bill.paymentSaga.amount)}
              {bill.paymentSaga.failureMessage && <> · {bill.paymentSaga.failureMessage}</>}
            </p>
          )}
          <ul class="item-details">
            {(bill.items ?? []).map((it) => (
              <li key={it.id} data-details-status={it.detailsStatus}>
                <strong>{it.details?.title || it.title}</strong> {it.details?.subtitle && <span class="muted">{it.details.subtitle}</span>}
                {it.detailsStatus === "DETAILS_STATUS_OK" ? (
                  <>
                    <div>
                      {label(it.details?.mainStatus, "MAIN_STATUS_")} · {money(it.details?.amount)} · provider version {it.details?.version}
                    </div>
                    {it.details?.seat && (
                      <div>
                        {it.details.seat.carrier} {it.details.seat.number} {it.details.seat.origin} → {it.details.seat.destination}, {it.details.seat.fareClass},{" "}
                        {it.details.seat.seatCount} seat(s): {(it.details.seat.passengerNames ?? []).join(", ")}
                      </div>
                    )}
                    {it.details?.stay && (
                      <div>
                        {it.details.stay.propertyName} ({it.details.stay.city}), {it.details.stay.roomType} × {it.details.stay.roomCount}:{" "}
                        {(it.details.stay.guestNames ?? []).join(", ")}
                      </div>
                    )}
                    {(it.details?.timeline ?? []).length > 0 && (
                      <ol class="timeline">
                        {(it.details?.timeline ?? []).map((t, i) => (
                          <li key={i}>
                            {time(t.time)} · {t.label} {t.description && <span class="muted">{t.description}</span>}
                          </li>
                        ))}
                      </ol>
                    )}
                  </>
                ) : (
                  <div class="unavailable">
                    <Badge tone="bad">details {label(it.detailsStatus, "DETAILS_STATUS_")}</Badge> {it.detailsError}
                  </div>
                )}
              </li>
            ))}
          </ul>
          <div class="actions">
            <form onSubmit={setSubStatus}>
              <label>
                Sub-status <input name="subStatus" value={sub} maxLength={64} onInput={(e) => setSub(e.currentTarget.value)} />
              </label>
              <button type="submit" disabled={busy}>
                Set sub-status
              </button>
            </form>
            <form
              onSubmit={(e) => {
                e.preventDefault();
                void cancel();
              }}
            >
              <label>
                Reason <input name="reason" value={reason} maxLength={500} onInput={(e) => setReason(e.currentTarget.value)} />
              </label>
              <button type="submit" class="danger" disabled={busy}>
                Cancel bill
              </button>
            </form>
            <button onClick={showPayments} disabled={busy}>
              View payments
            </button>
          </div>
          {payments && (
            <table class="payments" data-testid="payments">
              <thead>
                <tr>
                  <th>Payment</th>
                  <th>Status</th>
                  <th>Authorized</th>
                  <th>Captured</th>
                  <th>Refunded</th>
                  <th>Updated</th>
                </tr>
              </thead>
              <tbody>
                {payments.map((p) => (
                  <tr key={p.id} class={p.id === bill.paymentId ? "this-bill" : ""}>
                    <td>
                      <code>{p.id?.slice(0, 8)}</code>
                      {p.id === bill.paymentId && " (this bill)"}
                    </td>
                    <td>{label(p.status, "PAYMENT_STATUS_")}</td>
                    <td>{money(p.authorizedAmount)}</td>
                    <td>{money(p.capturedAmount)}</td>
                    <td>{money(p.refundedAmount)}</td>
                    <td>{time(p.updateTime)}</td>
                  </tr>
                ))}
                {payments.length === 0 && (
                  <tr>
                    <td colSpan={6}>No payments for this customer.</td>
                  </tr>
                )}
              </tbody>
            </table>
          )}
        </>
      )}
    </div>
  );
}
