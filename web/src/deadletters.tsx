// The dead-letter view: a consuming service's parked events (ConsumerAdminService), with
// replay and discard of the selected ones.

import { unwrap, type Schemas, type WaybillClient } from "@waybill/sdk";
import { useCallback, useEffect, useState } from "preact/hooks";

import { Busy, ErrorBox, run, time } from "./ui";

/** The services that consume other services' events and so may park some. */
const consumers = ["billing", "booking", "fare", "matching", "trip", "payment", "account", "notification", "analytics"];

/** DeadLetters is the parked-events page. */
export function DeadLetters({ client }: { client: WaybillClient }) {
  const [service, setService] = useState("billing");
  const [events, setEvents] = useState<Schemas["ParkedEvent"][]>([]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState("");

  const load = useCallback(async () => {
    const r = await run(setBusy, setError, async () =>
      unwrap(await client.GET("/v1/admin/{service}/parkedEvents", { params: { path: { service }, query: { pageSize: 200 } } })),
    );
    setEvents(r?.parkedEvents ?? []);
    setSelected(new Set());
  }, [client, service]);
  useEffect(() => {
    void load();
  }, [load]);

  const act = async (what: "replay" | "discard") => {
    const ids = [...selected];
    if (ids.length === 0) {
      return;
    }
    if (what === "discard" && !confirm(`Discard ${ids.length} parked event(s)? They will never be applied.`)) {
      return;
    }
    const r = await run(setBusy, setError, async () => {
      if (what === "replay") {
        const r = unwrap(await client.POST("/v1/admin/{service}/parkedEvents:replay", { params: { path: { service } }, body: { ids } }));
        return `replayed ${r.replayedCount ?? 0}, failed again ${r.failedCount ?? 0}`;
      }
      const r = unwrap(await client.POST("/v1/admin/{service}/parkedEvents:discard", { params: { path: { service } }, body: { ids } }));
      return `discarded ${r.discardedCount ?? 0}`;
    });
    if (r) {
      setNote(r);
      await load();
    }
  };

  const toggle = (id: string) => {
    const s = new Set(selected);
    if (s.has(id)) {
      s.delete(id);
    } else {
      s.add(id);
    }
    setSelected(s);
  };

  return (
    <section>
      <h1>Parked events</h1>
      <p class="muted">Events a service could not apply after its retries wait here (and later events of the same key behind them).</p>
      <div class="filters">
        <label>
          Service
          <select value={service} onChange={(e) => setService(e.currentTarget.value)}>
            {consumers.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </label>
        <button onClick={load} disabled={busy}>
          Refresh
        </button>
        <button onClick={() => act("replay")} disabled={busy || selected.size === 0}>
          Replay selected
        </button>
        <button class="danger" onClick={() => act("discard")} disabled={busy || selected.size === 0}>
          Discard selected
        </button>
        {busy && <Busy />}
      </div>
      <ErrorBox error={error} />
      {note && <p role="status">{note}</p>}
      <table>
        <thead>
          <tr>
            <th />
            <th>Parked</th>
            <th>Consumer</th>
            <th>Source</th>
            <th>Event</th>
            <th>Attempts</th>
            <th>Error</th>
          </tr>
        </thead>
        <tbody>
          {events.map((p) => (
            <tr key={p.id}>
              <td>
                <input type="checkbox" checked={selected.has(p.id!)} onChange={() => toggle(p.id!)} aria-label={`select ${p.id}`} />
              </td>
              <td>{time(p.parkTime)}</td>
              <td>{p.consumer}</td>
              <td>{p.source}</td>
              <td>
                {p.event?.type} <code>{p.event?.key}</code> #{p.event?.sequence}
              </td>
              <td>{p.attempts}</td>
              <td class="muted">{p.error}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {!busy && events.length === 0 && !error && <p class="empty">No parked events in {service}.</p>}
    </section>
  );
}
