// The customer's pages: search departures and stays and hold one; my reservations (put a
// held one on a bill); my bills (finalize, pay with a saved payment method, the payment's
// progress live from WatchBills); my payment methods.

import { unwrap, watchBills, type Schemas, type WaybillClient } from "@waybill/sdk";
import { useCallback, useEffect, useState } from "preact/hooks";

import type { Session } from "./session";
import { Badge, Busy, ErrorBox, label, money, run, statusTone, time } from "./ui";

type Props = { client: WaybillClient; session: Session };

function dateParts(d: string): { year: number; month: number; day: number } {
  const [year, month, day] = d.split("-").map(Number);
  return { year, month, day };
}

function isoDate(offsetDays: number): string {
  const d = new Date(Date.now() + offsetDays * 86_400_000);
  return d.toISOString().slice(0, 10);
}

/** Search finds departures and stays and holds one. */
export function Search({ client, session }: Props) {
  const [tab, setTab] = useState<"departures" | "stays">("departures");
  return (
    <section>
      <h1>Search</h1>
      <div class="tabs" role="tablist">
        <button role="tab" aria-selected={tab === "departures"} onClick={() => setTab("departures")}>
          Departures
        </button>
        <button role="tab" aria-selected={tab === "stays"} onClick={() => setTab("stays")}>
          Stays
        </button>
      </div>
      {tab === "departures" ? <Departures client={client} session={session} /> : <Stays client={client} session={session} />}
    </section>
  );
}

function Departures({ client, session }: Props) {
  const [q, setQ] = useState({ origin: "FRA", destination: "JFK", date: isoDate(3), passengers: 1 });
  const [offers, setOffers] = useState<Schemas["DepartureOffer"][] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [traveler, setTraveler] = useState(session.subject);
  const [held, setHeld] = useState<Schemas["Reservation"] | null>(null);

  const search = async (e: Event) => {
    e.preventDefault();
    const d = dateParts(q.date);
    const r = await run(setBusy, setError, async () =>
      unwrap(
        await client.GET("/v1/departures:search", {
          params: {
            query: {
              origin: q.origin.toUpperCase(),
              destination: q.destination.toUpperCase(),
              "date.year": d.year,
              "date.month": d.month,
              "date.day": d.day,
              passengers: q.passengers,
            },
          },
        }),
      ),
    );
    if (r) {
      setOffers(r.departures ?? []);
    }
  };
  const hold = async (departureId: string, fareClass: string) => {
    const r = await run(setBusy, setError, async () =>
      unwrap(
        await client.POST("/v1/reservations", {
          body: {
            reservation: {
              seat: { departureId, fareClass },
              quantity: q.passengers,
              travelers: Array.from({ length: q.passengers }, (_, i) => ({ fullName: i === 0 ? traveler : `${traveler} +${i}` })),
            },
            requestId: crypto.randomUUID(),
          },
        }),
      ),
    );
    if (r?.reservation) {
      setHeld(r.reservation);
    }
  };

  return (
    <>
      <form class="filters" onSubmit={search}>
        <label>
          From <input name="origin" value={q.origin} size={4} onInput={(e) => setQ({ ...q, origin: e.currentTarget.value })} />
        </label>
        <label>
          To <input name="destination" value={q.destination} size={4} onInput={(e) => setQ({ ...q, destination: e.currentTarget.value })} />
        </label>
        <label>
          Date <input name="date" type="date" value={q.date} onInput={(e) => setQ({ ...q, date: e.currentTarget.value })} />
        </label>
        <label>
          Passengers{" "}
          <input name="passengers" type="number" min={1} max={9} value={q.passengers} onInput={(e) => setQ({ ...q, passengers: Number(e.currentTarget.value) })} />
        </label>
        <label>
          Traveler <input name="traveler" value={traveler} onInput={(e) => setTraveler(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={busy}>
          Search
        </button>
        {busy && <Busy />}
      </form>
      <ErrorBox error={error} />
      {held && <Held reservation={held} client={client} session={session} />}
      {offers && offers.length === 0 && <p class="empty">No departures on that day.</p>}
      <ul class="offers">
        {(offers ?? []).map((o) => (
          <li key={o.departure?.id} class="offer" data-departure={o.departure?.id}>
            <strong>
              {o.departure?.carrier} {o.departure?.number}
            </strong>{" "}
            {o.departure?.origin} → {o.departure?.destination} · {time(o.departure?.departureTime)} – {time(o.departure?.arrivalTime)}
            <ul>
              {(o.options ?? []).map((opt) => (
                <li key={opt.fareClass}>
                  {opt.fareClass}: {money(opt.quote?.totalPrice)} ({opt.seatsAvailable} left){" "}
                  <button disabled={!opt.available || busy} onClick={() => hold(o.departure!.id!, opt.fareClass!)}>
                    Hold
                  </button>
                </li>
              ))}
            </ul>
          </li>
        ))}
      </ul>
    </>
  );
}

function Stays({ client, session }: Props) {
  const [q, setQ] = useState({ city: "berlin", checkIn: isoDate(7), checkOut: isoDate(9), guests: 1, rooms: 1 });
  const [offers, setOffers] = useState<Schemas["StayOffer"][] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [held, setHeld] = useState<Schemas["Reservation"] | null>(null);

  const search = async (e: Event) => {
    e.preventDefault();
    const a = dateParts(q.checkIn);
    const b = dateParts(q.checkOut);
    const r = await run(setBusy, setError, async () =>
      unwrap(
        await client.GET("/v1/properties:searchStays", {
          params: {
            query: {
              city: q.city,
              "checkInDate.year": a.year,
              "checkInDate.month": a.month,
              "checkInDate.day": a.day,
              "checkOutDate.year": b.year,
              "checkOutDate.month": b.month,
              "checkOutDate.day": b.day,
              guests: q.guests,
              rooms: q.rooms,
            },
          },
        }),
      ),
    );
    if (r) {
      setOffers(r.stays ?? []);
    }
  };
  const hold = async (propertyId: string, roomType: string) => {
    const r = await run(setBusy, setError, async () =>
      unwrap(
        await client.POST("/v1/reservations", {
          body: {
            reservation: {
              stay: { propertyId, roomType, checkInDate: dateParts(q.checkIn), checkOutDate: dateParts(q.checkOut), guestCount: q.guests },
              quantity: q.rooms,
              travelers: [{ fullName: session.subject }],
            },
            requestId: crypto.randomUUID(),
          },
        }),
      ),
    );
    if (r?.reservation) {
      setHeld(r.reservation);
    }
  };

  return (
    <>
      <form class="filters" onSubmit={search}>
        <label>
          City <input name="city" value={q.city} size={4} onInput={(e) => setQ({ ...q, city: e.currentTarget.value })} />
        </label>
        <label>
          Check-in <input name="checkIn" type="date" value={q.checkIn} onInput={(e) => setQ({ ...q, checkIn: e.currentTarget.value })} />
        </label>
        <label>
          Check-out <input name="checkOut" type="date" value={q.checkOut} onInput={(e) => setQ({ ...q, checkOut: e.currentTarget.value })} />
        </label>
        <label>
          Guests <input name="guests" type="number" min={1} value={q.guests} onInput={(e) => setQ({ ...q, guests: Number(e.currentTarget.value) })} />
        </label>
        <label>
          Rooms <input name="rooms" type="number" min={1} value={q.rooms} onInput={(e) => setQ({ ...q, rooms: Number(e.currentTarget.value) })} />
        </label>
        <button type="submit" disabled={busy}>
          Search
        </button>
        {busy && <Busy />}
      </form>
      <ErrorBox error={error} />
      {held && <Held reservation={held} client={client} session={session} />}
      {offers && offers.length === 0 && <p class="empty">No stays for these dates.</p>}
      <ul class="offers">
        {(offers ?? []).map((o) => (
          <li key={o.property?.id} class="offer">
            <strong>{o.property?.name}</strong> {o.property?.city} · {o.property?.address}
            <ul>
              {(o.options ?? []).map((opt) => (
                <li key={opt.roomType}>
                  {opt.roomType}: {money(opt.quote?.totalPrice)} ({opt.roomsAvailable} left){" "}
                  <button disabled={!opt.available || busy} onClick={() => hold(o.property!.id!, opt.roomType!)}>
                    Hold
                  </button>
                </li>
              ))}
            </ul>
          </li>
        ))}
      </ul>
    </>
  );
}

/** Held confirms a new hold and offers to put it on a new bill. */
function Held({ reservation, client, session }: Props & { reservation: Schemas["Reservation"] }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [billed, setBilled] = useState(false);
  return (
    <div class="notice" role="status" data-testid="held">
      Held <code>{reservation.id}</code> for {money(reservation.price)} until {time(reservation.holdExpireTime)}.{" "}
      {billed ? (
        <a href="#/bills">On a bill: go to my bills →</a>
      ) : (
        <button
          disabled={busy}
          onClick={async () => {
            const ok = await run(setBusy, setError, () => billReservation(client, session, reservation));
            if (ok) {
              setBilled(true);
              location.hash = "#/bills";
            }
          }}
        >
          Put on a bill
        </button>
      )}
      {busy && <Busy />}
      <ErrorBox error={error} />
    </div>
  );
}

/** billReservation opens a bill in the reservation's currency and adds the reservation to it. */
async function billReservation(client: WaybillClient, session: Session, r: Schemas["Reservation"]): Promise<boolean> {
  const { bill } = unwrap(
    await client.POST("/v1/bills", { body: { customerId: session.subject, currencyCode: r.price?.currencyCode, requestId: crypto.randomUUID() } }),
  );
  unwrap(
    await client.POST("/v1/bills/{billId}/items", {
      params: { path: { billId: bill!.id! } },
      body: { kind: r.kind, reservationId: r.id, requestId: crypto.randomUUID() },
    }),
  );
  return true;
}

/** Reservations lists my reservations. */
export function Reservations({ client, session }: Props) {
  const [list, setList] = useState<Schemas["Reservation"][]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(async () => {
    const r = await run(setBusy, setError, async () =>
      unwrap(await client.GET("/v1/reservations", { params: { query: { customerId: session.subject, pageSize: 100 } } })),
    );
    setList(r?.reservations ?? []);
  }, [client, session]);
  useEffect(() => {
    void load();
  }, [load]);
  return (
    <section>
      <h1>My reservations</h1>
      <ErrorBox error={error} />
      {busy && <Busy />}
      <table>
        <thead>
          <tr>
            <th>What</th>
            <th>Status</th>
            <th>Price</th>
            <th>Held until</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.map((r) => (
            <tr key={r.id} data-reservation={r.id}>
              <td>
                {r.seat ? `${r.seat.carrier} ${r.seat.number} ${r.seat.origin} → ${r.seat.destination} (${r.seat.fareClass})` : ""}
                {r.stay ? `${r.stay.propertyName} ${r.stay.city}, ${r.stay.roomType}, ${r.stay.nights} night(s)` : ""} × {r.quantity}
              </td>
              <td>
                <Badge tone={statusTone(r.status)}>{label(r.status, "RESERVATION_STATUS_")}</Badge>
              </td>
              <td>{money(r.price)}</td>
              <td>{r.status === "RESERVATION_STATUS_HELD" ? time(r.holdExpireTime) : "—"}</td>
              <td>
                {(r.status === "RESERVATION_STATUS_HELD" || r.status === "RESERVATION_STATUS_CONFIRMED") && (
                  <button
                    disabled={busy}
                    onClick={async () => {
                      if (await run(setBusy, setError, () => billReservation(client, session, r))) {
                        location.hash = "#/bills";
                      }
                    }}
                  >
                    Put on a bill
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!busy && list.length === 0 && <p class="empty">No reservations yet: search and hold one.</p>}
    </section>
  );
}

const sagaSteps: Schemas["PaymentSagaStep"][] = ["PAYMENT_SAGA_STEP_AUTHORIZE", "PAYMENT_SAGA_STEP_CONFIRM_ITEMS", "PAYMENT_SAGA_STEP_CAPTURE"];

/** Bills lists my bills, live, with finalize and pay. */
export function Bills({ client, session }: Props) {
  const [bills, setBills] = useState<Schemas["Bill"][]>([]);
  const [methods, setMethods] = useState<Schemas["PaymentMethod"][]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const loadMethods = useCallback(async () => {
    const r = await run(setBusy, setError, async () =>
      unwrap(await client.GET("/v1/paymentMethods", { params: { query: { customerId: session.subject, statuses: ["PAYMENT_METHOD_STATUS_ACTIVE"] } } })),
    );
    setMethods(r?.paymentMethods ?? []);
  }, [client, session]);

  // The list comes from WatchBills' snapshot, then stays live: a bill's payment progress
  // shows as it happens.
  useEffect(() => {
    const ac = new AbortController();
    (async () => {
      let snapshot: Schemas["Bill"][] = [];
      let inSnapshot = true;
      for await (const m of watchBills(client, { customerId: session.subject, includeSnapshot: true }, { signal: ac.signal })) {
        if (m.heartbeat) {
          continue;
        }
        if (m.changeType === "BILL_CHANGE_TYPE_SNAPSHOT" && m.bill) {
          snapshot.push(m.bill);
          continue;
        }
        if (m.changeType === "BILL_CHANGE_TYPE_SNAPSHOT_COMPLETE") {
          inSnapshot = false;
          snapshot.sort((a, b) => (b.createTime ?? "").localeCompare(a.createTime ?? ""));
          setBills(snapshot);
          snapshot = [];
          continue;
        }
        const b = m.bill;
        if (!b?.id || inSnapshot) {
          continue;
        }
        setBills((prev) => {
          const i = prev.findIndex((x) => x.id === b.id);
          if (i < 0) {
            return [b, ...prev];
          }
          if (Number(prev[i].version ?? 0) > Number(b.version ?? 0)) {
            return prev;
          }
          const copy = prev.slice();
          copy[i] = b;
          return copy;
        });
      }
    })().catch((e) => {
      if (!ac.signal.aborted) {
        setError(e);
      }
    });
    return () => ac.abort();
  }, [client, session]);
  useEffect(() => {
    void loadMethods();
  }, [loadMethods]);

  return (
    <section>
      <h1>My bills</h1>
      <ErrorBox error={error} />
      {busy && <Busy />}
      <PaymentMethods client={client} session={session} methods={methods} onAdded={loadMethods} />
      {bills.length === 0 && !busy && <p class="empty">No bills yet.</p>}
      {bills.map((b) => (
        <BillCard key={b.id} bill={b} methods={methods} client={client} />
      ))}
    </section>
  );
}

function BillCard({ bill, methods, client }: { bill: Schemas["Bill"]; methods: Schemas["PaymentMethod"][]; client: WaybillClient }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [method, setMethod] = useState("");
  const st = label(bill.status, "BILL_STATUS_");
  const saga = bill.paymentSaga;
  const paying = saga && (saga.state === "PAYMENT_SAGA_STATE_RUNNING" || saga.state === "PAYMENT_SAGA_STATE_COMPENSATING");
  const chosen = method || methods[0]?.id || "";

  const finalize = () =>
    run(setBusy, setError, async () =>
      unwrap(
        await client.POST("/v1/bills/{billId}:finalize", {
          params: { path: { billId: bill.id! } },
          body: { expectedVersion: bill.version, requestId: crypto.randomUUID() },
        }),
      ),
    );
  const pay = () =>
    run(setBusy, setError, async () =>
      unwrap(
        await client.POST("/v1/bills/{billId}:pay", {
          params: { path: { billId: bill.id! } },
          body: { paymentMethodId: chosen, requestId: crypto.randomUUID() },
        }),
      ),
    );

  return (
    <article class="bill-card" data-bill={bill.id} data-status={bill.status}>
      <header>
        <strong>Bill {bill.id?.slice(0, 8)}</strong> <Badge tone={statusTone(st)}>{st}</Badge>{" "}
        <span data-testid="total">{(bill.totals ?? []).map((t) => money(t)).join(", ") || "—"}</span>
      </header>
      <ul class="items">
        {(bill.items ?? []).map((it) => (
          <li key={it.id}>
            {label(it.kind, "KIND_")} · {it.title || it.reservationId} · {label(it.mainStatus, "MAIN_STATUS_")} · {money(it.billedAmount ?? it.amount)}
          </li>
        ))}
      </ul>
      {saga && (
        <div class="saga" data-testid="saga" data-state={saga.state}>
          Payment: <Badge tone={statusTone(saga.state)}>{label(saga.state, "PAYMENT_SAGA_STATE_")}</Badge>{" "}
          <ol class="steps">
            {sagaSteps.map((s) => {
              const at = sagaSteps.indexOf(saga.step ?? "PAYMENT_SAGA_STEP_UNSPECIFIED");
              const i = sagaSteps.indexOf(s);
              const done = saga.state === "PAYMENT_SAGA_STATE_SUCCEEDED" || i < at;
              return (
                <li key={s} class={done ? "done" : i === at ? "current" : ""}>
                  {label(s, "PAYMENT_SAGA_STEP_")}
                  {i === at && paying && <Busy> </Busy>}
                </li>
              );
            })}
          </ol>
          {saga.failureMessage && <p class="error">{saga.failureMessage}</p>}
        </div>
      )}
      <div class="actions">
        {bill.status === "BILL_STATUS_OPEN" && (
          <button disabled={busy || (bill.items ?? []).length === 0} onClick={finalize}>
            Finalize
          </button>
        )}
        {(bill.status === "BILL_STATUS_FINALIZED" || bill.status === "BILL_STATUS_FAILED") && !paying && (
          <>
            <select name="paymentMethod" value={chosen} onChange={(e) => setMethod(e.currentTarget.value)}>
              {methods.map((m) => (
                <option key={m.id} value={m.id}>
                  {label(m.brand, "CARD_BRAND_")} ****{m.last4} ({m.expiryMonth}/{m.expiryYear})
                </option>
              ))}
            </select>
            <button disabled={busy || !chosen} onClick={pay}>
              Pay {(bill.totals ?? []).map((t) => money(t)).join(", ")}
            </button>
            {methods.length === 0 && <span class="muted"> add a card first</span>}
          </>
        )}
        {busy && <Busy />}
      </div>
      <ErrorBox error={error} />
    </article>
  );
}

function PaymentMethods({ client, session, methods, onAdded }: Props & { methods: Schemas["PaymentMethod"][]; onAdded(): void }) {
  const [card, setCard] = useState({ number: "4242424242424242", month: 12, year: new Date().getFullYear() + 3, cvc: "123" });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const add = async (e: Event) => {
    e.preventDefault();
    const r = await run(setBusy, setError, async () =>
      unwrap(
        await client.POST("/v1/paymentMethods", {
          body: {
            customerId: session.subject,
            card: { number: card.number.replace(/\s/g, ""), expiryMonth: card.month, expiryYear: card.year, cvc: card.cvc },
            requestId: crypto.randomUUID(),
          },
        }),
      ),
    );
    if (r) {
      onAdded();
    }
  };
  return (
    <details class="methods" open={methods.length === 0}>
      <summary>Payment methods ({methods.length})</summary>
      <ul>
        {methods.map((m) => (
          <li key={m.id}>
            {label(m.brand, "CARD_BRAND_")} ****{m.last4}, expires {m.expiryMonth}/{m.expiryYear}
          </li>
        ))}
      </ul>
      <form class="filters" onSubmit={add}>
        <label>
          Card number <input name="cardNumber" value={card.number} onInput={(e) => setCard({ ...card, number: e.currentTarget.value })} />
        </label>
        <label>
          Month <input name="month" type="number" min={1} max={12} value={card.month} onInput={(e) => setCard({ ...card, month: Number(e.currentTarget.value) })} />
        </label>
        <label>
          Year <input name="year" type="number" value={card.year} onInput={(e) => setCard({ ...card, year: Number(e.currentTarget.value) })} />
        </label>
        <label>
          CVC <input name="cvc" value={card.cvc} size={4} onInput={(e) => setCard({ ...card, cvc: e.currentTarget.value })} />
        </label>
        <button type="submit" disabled={busy}>
          Add card
        </button>
        {busy && <Busy />}
      </form>
      <ErrorBox error={error} />
    </details>
  );
}
