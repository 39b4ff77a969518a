// Rides: the rider's page (pick pickup and drop-off on a simple map of the city drawn in
// SVG (no tile server is reachable), request a ride, watch it live with WatchTrip, see the
// fare with its breakdown or "calculating fare") and the driver's page (go online, stream a
// simulated position, receive offers with WatchDriverOffers, accept, start and end the trip).

import { ApiError, Codes, unwrap, watchDriverOffers, watchTrip, type Schemas, type WaybillClient } from "@waybill/sdk";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";

import type { Session } from "./session";
import { Badge, Busy, ErrorBox, label, money, run, statusTone, time } from "./ui";

type Point = { latitude: number; longitude: number };
type Props = { client: WaybillClient; session: Session };

/** The map's extent: central Berlin. */
const box = { south: 52.47, north: 52.56, west: 13.3, east: 13.5 };
const mapW = 600;
const mapH = 420;

const places: (Point & { name: string })[] = [
  { name: "Alexanderplatz", latitude: 52.5219, longitude: 13.4132 },
  { name: "Potsdamer Platz", latitude: 52.5096, longitude: 13.3759 },
  { name: "Brandenburger Tor", latitude: 52.5163, longitude: 13.3777 },
  { name: "Hauptbahnhof", latitude: 52.5251, longitude: 13.3694 },
  { name: "Kreuzberg", latitude: 52.4986, longitude: 13.4034 },
  { name: "Friedrichshain", latitude: 52.5158, longitude: 13.4542 },
];

function toXY(p: Point): [number, number] {
  return [((p.longitude - box.west) / (box.east - box.west)) * mapW, ((box.north - p.latitude) / (box.north - box.south)) * mapH];
}

function fromXY(x: number, y: number): Point {
  return { latitude: box.north - (y / mapH) * (box.north - box.south), longitude: box.west + (x / mapW) * (box.east - box.west) };
}

/** CityMap draws the city's grid and landmarks, and the points and route given; a click reports its position. */
function CityMap(props: { pickup?: Point; dropoff?: Point; driver?: Point; route?: Point[]; onPick?(p: Point): void }) {
  const ref = useRef<SVGSVGElement>(null);
  const click = (e: MouseEvent) => {
    const r = ref.current!.getBoundingClientRect();
    props.onPick?.(fromXY(((e.clientX - r.left) / r.width) * mapW, ((e.clientY - r.top) / r.height) * mapH));
  };
  const dot = (p: Point | undefined, cls: string, title: string) => {
    if (!p) {
      return null;
    }
    const [x, y] = toXY(p);
    return (
      <circle class={cls} cx={x} cy={y} r={8}>
        <title>{title}</title>
      </circle>
    );
  };
  return (
    <svg ref={ref} class="map" viewBox={`0 0 ${mapW} ${mapH}`} onClick={click} role="img" aria-label="map of central Berlin" data-testid="map">
      <rect width={mapW} height={mapH} class="map-bg" />
      {Array.from({ length: 11 }, (_, i) => (
        <line key={`v${i}`} x1={(i * mapW) / 10} y1={0} x2={(i * mapW) / 10} y2={mapH} class="map-grid" />
      ))}
      {Array.from({ length: 8 }, (_, i) => (
        <line key={`h${i}`} x1={0} y1={(i * mapH) / 7} x2={mapW} y2={(i * mapH) / 7} class="map-grid" />
      ))}
      {places.map((p) => {
        const [x, y] = toXY(p);
        return (
          <g key={p.name}>
            <rect x={x - 2} y={y - 2} width={4} height={4} class="map-place" />
            <text x={x + 6} y={y - 4} class="map-label">
              {p.name}
            </text>
          </g>
        );
      })}
      {props.route && props.route.length > 1 && <polyline class="map-route" points={props.route.map((p) => toXY(p).join(",")).join(" ")} />}
      {dot(props.pickup, "map-pickup", "pickup")}
      {dot(props.dropoff, "map-dropoff", "drop-off")}
      {dot(props.driver, "map-driver", "driver")}
    </svg>
  );
}

/** pt reads a GeoPoint of the API (proto3 leaves out a zero coordinate). */
function pt(g: Schemas["GeoPoint"] | undefined): Point | undefined {
  return g ? { latitude: g.latitude ?? 0, longitude: g.longitude ?? 0 } : undefined;
}

function fmt(p: Point | undefined): string {
  return p ? `${p.latitude.toFixed(4)}, ${p.longitude.toFixed(4)}` : "—";
}

/** Ride is the rider's page. */
export function Ride({ client, session }: Props) {
  const [pickup, setPickup] = useState<Point>(places[0]);
  const [dropoff, setDropoff] = useState<Point>(places[1]);
  const [picking, setPicking] = useState<"pickup" | "dropoff">("pickup");
  const [product, setProduct] = useState("standard");
  const [city, setCity] = useState("berlin");
  const [trip, setTrip] = useState<Schemas["Trip"] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  // Follow the current trip live.
  useEffect(() => {
    if (!trip?.id) {
      return;
    }
    const ac = new AbortController();
    (async () => {
      for await (const m of watchTrip(client, trip.id!, { signal: ac.signal })) {
        if (m.trip) {
          setTrip(m.trip);
        }
      }
    })().catch((e) => !ac.signal.aborted && setError(e));
    return () => ac.abort();
  }, [client, trip?.id]);

  const request = async () => {
    const r = await run(setBusy, setError, async () =>
      unwrap(
        await client.POST("/v1/trips", {
          body: {
            customerId: session.subject,
            pickup: { latitude: pickup.latitude, longitude: pickup.longitude },
            dropoff: { latitude: dropoff.latitude, longitude: dropoff.longitude },
            product,
            city,
            requestId: crypto.randomUUID(),
          },
        }),
      ),
    );
    if (r?.trip) {
      setTrip(r.trip);
    }
  };
  const cancel = async () => {
    await run(setBusy, setError, async () =>
      unwrap(await client.POST("/v1/trips/{tripId}:cancel", { params: { path: { tripId: trip!.id! } }, body: { reason: "changed my mind", requestId: crypto.randomUUID() } })),
    );
  };
  const active = trip && trip.status !== "TRIP_STATUS_ENDED" && trip.status !== "TRIP_STATUS_CANCELLED";
  const route = (trip?.route ?? []).map((r) => pt(r.point)).filter((p): p is Point => p !== undefined);

  return (
    <section>
      <h1>Ride</h1>
      <div class="ride">
        <div>
          <CityMap
            pickup={pt(trip?.pickup) ?? pickup}
            dropoff={pt(trip?.dropoff) ?? dropoff}
            driver={pt(trip?.lastRoutePoint?.point)}
            route={route}
            onPick={active ? undefined : (p) => (picking === "pickup" ? setPickup(p) : setDropoff(p))}
          />
          {!active && (
            <p class="muted">
              Click the map to set the{" "}
              <button class="link" onClick={() => setPicking("pickup")} aria-pressed={picking === "pickup"}>
                pickup
              </button>{" "}
              ({fmt(pickup)}) or the{" "}
              <button class="link" onClick={() => setPicking("dropoff")} aria-pressed={picking === "dropoff"}>
                drop-off
              </button>{" "}
              ({fmt(dropoff)}); now setting the {picking === "pickup" ? "pickup" : "drop-off"}.
            </p>
          )}
        </div>
        <div class="ride-side">
          {!active && (
            <div class="filters">
              <label>
                City <input name="city" value={city} size={8} onInput={(e) => setCity(e.currentTarget.value)} />
              </label>
              <label>
                Product <input name="product" value={product} size={10} onInput={(e) => setProduct(e.currentTarget.value)} />
              </label>
              <button onClick={request} disabled={busy}>
                Request ride
              </button>
            </div>
          )}
          {busy && <Busy />}
          <ErrorBox error={error} />
          {trip && (
            <div class="trip" data-testid="trip" data-status={trip.status}>
              <p>
                Trip <code>{trip.id?.slice(0, 8)}</code>{" "}
                <Badge tone={statusTone(trip.status)}>
                  <span data-testid="trip-status">{label(trip.status, "TRIP_STATUS_")}</span>
                </Badge>
                {trip.subStatus && <span class="sub"> / {trip.subStatus}</span>}
              </p>
              <p>
                Estimate {money(trip.estimate)}
                {trip.driverId && <> · driver {trip.driverId.slice(0, 8)}</>}
                {trip.distanceMeters && <> · {(Number(trip.distanceMeters) / 1000).toFixed(1)} km</>}
              </p>
              {trip.status === "TRIP_STATUS_REQUESTED" && <Busy>finding a driver…</Busy>}
              {active && (
                <button class="danger" onClick={cancel} disabled={busy}>
                  Cancel ride
                </button>
              )}
              {trip.status === "TRIP_STATUS_ENDED" && <FareView client={client} tripId={trip.id!} final={trip.finalFare} />}
              <ol class="timeline">
                {(trip.timeline ?? []).map((t, i) => (
                  <li key={i}>
                    {time(t.time)} · {t.label}
                  </li>
                ))}
              </ol>
            </div>
          )}
        </div>
      </div>
    </section>
  );
}

/** FareView shows a ride's fare with its breakdown, or that it is being calculated. */
function FareView({ client, tripId, final }: { client: WaybillClient; tripId: string; final?: Schemas["Money"] }) {
  const [fare, setFare] = useState<Schemas["GetFareResponse"] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let stop = false;
    let t: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      const r = await client.GET("/v1/fares/{tripId}", { params: { path: { tripId } } });
      if (stop) {
        return;
      }
      if (r.response.ok && r.data) {
        setFare(r.data);
        setError(null);
        if (r.data.state === "FARE_STATE_CALCULATED") {
          return;
        }
      } else if (r.response.status !== 404) {
        setError(r.error);
      }
      t = setTimeout(poll, 1000);
    };
    void poll();
    return () => {
      stop = true;
      clearTimeout(t);
    };
  }, [client, tripId, final?.amountMinor]);
  if (!fare || fare.state !== "FARE_STATE_CALCULATED") {
    return (
      <div data-testid="fare">
        <Busy>calculating fare…</Busy>
        <ErrorBox error={error} />
      </div>
    );
  }
  return (
    <table class="fare" data-testid="fare">
      <tbody>
        {(fare.fare?.lines ?? []).map((l, i) => (
          <tr key={i}>
            <td>{l.description || l.code}</td>
            <td>{money(l.amount)}</td>
          </tr>
        ))}
        <tr class="total">
          <th>Total</th>
          <th data-testid="fare-total">{money(fare.fare?.total)}</th>
        </tr>
      </tbody>
    </table>
  );
}

/** Drive is the driver's page. */
export function Drive({ client, session }: Props) {
  const driverId = session.subject;
  const [driver, setDriver] = useState<Schemas["Driver"] | null>(null);
  const [offer, setOffer] = useState<Schemas["Offer"] | null>(null);
  const [trip, setTrip] = useState<Schemas["Trip"] | null>(null);
  const [pos, setPos] = useState<Point>({ latitude: 52.5205, longitude: 13.4095 });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const posRef = useRef(pos);
  posRef.current = pos;

  const load = useCallback(async () => {
    const r = await run(setBusy, setError, async () => unwrap(await client.GET("/v1/drivers/{driverId}", { params: { path: { driverId } } })));
    if (r?.driver) {
      setDriver(r.driver);
    }
  }, [client, driverId]);
  useEffect(() => {
    void load();
  }, [load]);
  const online = driver?.status !== undefined && driver.status !== "DRIVER_STATUS_OFFLINE";

  // While online, stream a simulated position every 2 s: a small drift, or towards the
  // pickup of the accepted trip.
  useEffect(() => {
    if (!online) {
      return;
    }
    const tick = async () => {
      const target = pt(trip?.status === "TRIP_STATUS_DRIVER_ASSIGNED" ? trip.pickup : trip?.status === "TRIP_STATUS_STARTED" ? trip.dropoff : undefined);
      const p = posRef.current;
      const next = target
        ? { latitude: p.latitude + (target.latitude - p.latitude) * 0.3, longitude: p.longitude + (target.longitude - p.longitude) * 0.3 }
        : { latitude: p.latitude + (Math.random() - 0.5) * 0.0006, longitude: p.longitude + (Math.random() - 0.5) * 0.0006 };
      setPos(next);
      await client.POST("/v1/drivers/{driverId}:updateLocation", {
        params: { path: { driverId } },
        body: { location: { point: next, fixTime: new Date().toISOString() } },
      });
      if (trip?.status === "TRIP_STATUS_STARTED") {
        await client.POST("/v1/trips/{tripId}:recordLocation", { params: { path: { tripId: trip.id! } }, body: { points: [{ point: next, time: new Date().toISOString() }] } });
      }
    };
    void tick();
    const t = setInterval(tick, 2000);
    return () => clearInterval(t);
  }, [client, driverId, online, trip?.status, trip?.id]);

  // Offers, live.
  useEffect(() => {
    if (!online) {
      return;
    }
    const ac = new AbortController();
    (async () => {
      for await (const m of watchDriverOffers(client, driverId, { signal: ac.signal })) {
        if (m.offer) {
          setOffer(m.offer);
        }
      }
    })().catch((e) => !ac.signal.aborted && setError(e));
    return () => ac.abort();
  }, [client, driverId, online]);

  // The accepted trip, live.
  useEffect(() => {
    const id = offer?.status === "OFFER_STATUS_ACCEPTED" ? offer.tripId : undefined;
    if (!id) {
      return;
    }
    const ac = new AbortController();
    (async () => {
      // The trip names its driver once trip has applied matching's assignment, a moment
      // after the accept: until then it is NOT_FOUND to this driver, so wait for it.
      for (let attempt = 0; ; attempt++) {
        try {
          for await (const m of watchTrip(client, id, { signal: ac.signal })) {
            if (m.trip) {
              setTrip(m.trip);
            }
          }
          return;
        } catch (e) {
          if (!(e instanceof ApiError && e.code === Codes.NOT_FOUND) || attempt >= 40 || ac.signal.aborted) {
            throw e;
          }
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    })().catch((e) => !ac.signal.aborted && setError(e));
    return () => ac.abort();
  }, [client, offer?.status, offer?.tripId]);

  const setOnline = async (on: boolean) => {
    const r = await run(setBusy, setError, async () =>
      unwrap(await client.POST("/v1/drivers/{driverId}:setAvailability", { params: { path: { driverId } }, body: { online: on, requestId: crypto.randomUUID() } })),
    );
    if (r?.driver) {
      setDriver(r.driver);
    }
  };
  const accept = () =>
    run(setBusy, setError, async () => {
      const r = unwrap(await client.POST("/v1/offers/{offerId}:accept", { params: { path: { offerId: offer!.id! } }, body: { requestId: crypto.randomUUID() } }));
      setOffer(r.offer ?? offer);
    });
  const decline = () =>
    run(setBusy, setError, async () => {
      unwrap(await client.POST("/v1/offers/{offerId}:decline", { params: { path: { offerId: offer!.id! } }, body: { reason: "too far", requestId: crypto.randomUUID() } }));
      setOffer(null);
    });
  const start = () =>
    run(setBusy, setError, async () => {
      const r = unwrap(await client.POST("/v1/trips/{tripId}:start", { params: { path: { tripId: trip!.id! } }, body: { location: pos, requestId: crypto.randomUUID() } }));
      setTrip(r.trip ?? trip);
    });
  const end = () =>
    run(setBusy, setError, async () => {
      const r = unwrap(await client.POST("/v1/trips/{tripId}:end", { params: { path: { tripId: trip!.id! } }, body: { dropoff: pt(trip!.dropoff) ?? pos, requestId: crypto.randomUUID() } }));
      setTrip(r.trip ?? trip);
      setOffer(null);
    });

  const pending = offer?.status === "OFFER_STATUS_PENDING";
  return (
    <section>
      <h1>Drive</h1>
      <ErrorBox error={error} />
      {busy && <Busy />}
      {driver && (
        <p data-testid="driver">
          {driver.name} · {driver.vehicle?.model} {driver.vehicle?.plate} ·{" "}
          <Badge tone={online ? "ok" : "neutral"}>
            <span data-testid="driver-status">{label(driver.status, "DRIVER_STATUS_")}</span>
          </Badge>{" "}
          <button onClick={() => setOnline(!online)} disabled={busy}>
            {online ? "Go offline" : "Go online"}
          </button>
        </p>
      )}
      <div class="ride">
        <CityMap driver={pos} pickup={pt(trip?.pickup ?? offer?.pickup)} dropoff={pt(trip?.dropoff)} />
        <div class="ride-side">
          {pending && (
            <div class="notice" data-testid="offer">
              New ride: pickup {fmt(pt(offer!.pickup))}, {offer!.distanceMeters ? `${(offer!.distanceMeters / 1000).toFixed(1)} km away` : ""}, answer
              by {time(offer!.expireTime)}.{" "}
              <button onClick={accept} disabled={busy}>
                Accept
              </button>{" "}
              <button onClick={decline} disabled={busy}>
                Decline
              </button>
            </div>
          )}
          {trip && (
            <div class="trip" data-testid="driver-trip" data-status={trip.status}>
              Trip <code>{trip.id?.slice(0, 8)}</code> <Badge tone={statusTone(trip.status)}>{label(trip.status, "TRIP_STATUS_")}</Badge>{" "}
              {trip.status === "TRIP_STATUS_DRIVER_ASSIGNED" && (
                <button onClick={start} disabled={busy}>
                  Start trip
                </button>
              )}
              {trip.status === "TRIP_STATUS_STARTED" && (
                <button onClick={end} disabled={busy}>
                  End trip
                </button>
              )}
            </div>
          )}
          {online && !pending && !trip && <p class="muted">Online: waiting for offers… (position {fmt(pos)})</p>}
        </div>
      </div>
    </section>
  );
}
