/**
 * Waybill's TypeScript SDK: `paths` and `components` are generated from the gateway's
 * OpenAPI 3 document by `make generate` (openapi-typescript); `createWaybillClient` is a
 * typed fetch client over them (openapi-fetch) that sends the bearer token; `watchBills`,
 * `subscribeEvents`, `watchTrip` and `watchDriverOffers` follow the gateway's
 * newline-delimited JSON streams as async iterators that reconnect (from their cursor,
 * where the stream has one).
 */
import createClient, { type Client } from "openapi-fetch";

import { toApiError } from "./errors.js";
import { resumeStream, type Backoff } from "./ndjson.js";
import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths } from "./schema.js";
export { ApiError, Codes, toApiError, type FieldViolation, type Status } from "./errors.js";
export { readStream, resumeStream, retryable, type Backoff, type ResumeOptions } from "./ndjson.js";

/** Schemas are the API's messages by name (for example Schemas["Bill"]). */
export type Schemas = components["schemas"];

/** WaybillClient is the typed REST client: client.GET("/v1/bills", {params: …}). */
export type WaybillClient = Client<paths>;

/** ClientOptions configures createWaybillClient. */
export interface ClientOptions {
  /** baseUrl is the gateway's address, for example "http://127.0.0.1:8080"; "" for the page's own origin. */
  baseUrl: string;
  /** token returns the bearer token for each request (a string or a function that reads the current one). */
  token?: string | (() => string | undefined);
  /** fetch replaces globalThis.fetch. */
  fetch?: (input: Request) => Promise<Response>;
}

/** createWaybillClient returns a typed client of the gateway that sends the bearer token with every call. */
export function createWaybillClient(opts: ClientOptions): WaybillClient {
  const client = createClient<paths>({ baseUrl: opts.baseUrl, fetch: opts.fetch });
  const token = opts.token;
  if (token !== undefined) {
    client.use({
      onRequest({ request }) {
        const t = typeof token === "function" ? token() : token;
        if (t) {
          request.headers.set("Authorization", `Bearer ${t}`);
        }
        return request;
      },
    });
  }
  return client;
}

/**
 * unwrap returns a call's data, or throws its error as an ApiError:
 * `const { bill } = unwrap(await client.GET("/v1/bills/{billId}", …))`.
 */
export function unwrap<D>(r: { data?: D; error?: unknown; response: Response }): D {
  if (r.error !== undefined || !r.response.ok) {
    throw toApiError(r.error, r.response.status);
  }
  return r.data as D;
}

/** requestId returns a fresh idempotency key for a mutation. */
export function requestId(): string {
  return crypto.randomUUID();
}

/** StreamOptions configures the stream helpers. */
export interface StreamOptions {
  /** signal stops the stream; the iterator then ends. */
  signal?: AbortSignal;
  /** cursor resumes after this cursor instead of starting fresh. */
  cursor?: string;
  /** backoff paces reconnecting (default 250 ms doubling to 5 s). */
  backoff?: Backoff;
  /** maxAttempts caps failed reconnects in a row (default: no limit). */
  maxAttempts?: number;
  /** onReconnect is told of every reconnect. */
  onReconnect?(cursor: string | undefined, attempt: number, cause: unknown): void;
}

/** WatchBillsQuery is WatchBills' filter: statuses, customerId, billIds, includeSnapshot. */
export type WatchBillsQuery = Omit<NonNullable<operations["BillingService_WatchBills"]["parameters"]["query"]>, "afterCursor">;

/**
 * watchBills follows WatchBills (`GET /v1/bills:watch`): snapshot (with includeSnapshot),
 * then live changes and heartbeats. After a break it resumes after the last cursor (without
 * the snapshot again), so no change is missed; an OUT_OF_RANGE ApiError means the cursor
 * is older than billing's change log and the caller must start over with a snapshot.
 */
export function watchBills(client: WaybillClient, query: WatchBillsQuery, opts: StreamOptions = {}): AsyncGenerator<Schemas["WatchBillsResponse"], void, undefined> {
  return resumeStream<Schemas["WatchBillsResponse"]>({
    ...opts,
    cursorOf: (m) => m.cursor,
    async open(cursor, signal) {
      const q = cursor ? { ...query, includeSnapshot: undefined, afterCursor: cursor } : query;
      const r = await client.GET("/v1/bills:watch", { params: { query: q }, parseAs: "stream", signal });
      return streamBody(r);
    },
  });
}

/** SubscribeQuery is Subscribe's filter: types and payloadMode. */
export type SubscribeQuery = Omit<NonNullable<operations["EventStreamService_Subscribe"]["parameters"]["query"]>, "afterCursor">;

/**
 * subscribeEvents follows a service's event log (`GET /v1/events/{service}:subscribe`,
 * operators and services only): events after the cursor, then live, resuming after the
 * last cursor seen whenever the stream breaks.
 */
export function subscribeEvents(client: WaybillClient, service: string, query: SubscribeQuery = {}, opts: StreamOptions = {}): AsyncGenerator<Schemas["SubscribeResponse"], void, undefined> {
  return resumeStream<Schemas["SubscribeResponse"]>({
    ...opts,
    cursorOf: (m) => m.cursor,
    async open(cursor, signal) {
      const r = await client.GET("/v1/events/{service}:subscribe", {
        params: { path: { service }, query: { ...query, afterCursor: cursor } },
        parseAs: "stream",
        signal,
      });
      return streamBody(r);
    },
  });
}

/**
 * watchTrip follows WatchTrip (`GET /v1/trips/{tripId}:watch`): the trip's current state,
 * then its state after every change. The stream ends for good once the trip is CANCELLED,
 * or ENDED with its final fare; a broken stream is reopened (it starts again with the
 * current state, so nothing is lost).
 */
export function watchTrip(client: WaybillClient, tripId: string, opts: Omit<StreamOptions, "cursor"> = {}): AsyncGenerator<Schemas["WatchTripResponse"], void, undefined> {
  let last: Schemas["Trip"] | undefined;
  return resumeStream<Schemas["WatchTripResponse"]>({
    ...opts,
    cursorOf: (m) => {
      last = m.trip ?? last;
      return undefined;
    },
    finished: () => last?.status === "TRIP_STATUS_CANCELLED" || (last?.status === "TRIP_STATUS_ENDED" && last.finalFare !== undefined),
    async open(_cursor, signal) {
      const r = await client.GET("/v1/trips/{tripId}:watch", { params: { path: { tripId } }, parseAs: "stream", signal });
      return streamBody(r);
    },
  });
}

/**
 * watchDriverOffers follows WatchDriverOffers (`GET /v1/drivers/{driverId}/offers:watch`):
 * the driver's pending offer, then every new offer and change of one. A broken stream is
 * reopened (it starts again with the pending offer).
 */
export function watchDriverOffers(client: WaybillClient, driverId: string, opts: Omit<StreamOptions, "cursor"> = {}): AsyncGenerator<Schemas["WatchDriverOffersResponse"], void, undefined> {
  return resumeStream<Schemas["WatchDriverOffersResponse"]>({
    ...opts,
    cursorOf: () => undefined,
    async open(_cursor, signal) {
      const r = await client.GET("/v1/drivers/{driverId}/offers:watch", { params: { path: { driverId } }, parseAs: "stream", signal });
      return streamBody(r);
    },
  });
}

function streamBody(r: { data?: ReadableStream<Uint8Array> | null; error?: unknown; response: Response }): ReadableStream<Uint8Array> {
  if (r.error !== undefined || !r.response.ok || !r.data) {
    throw toApiError(r.error, r.response.status);
  }
  return r.data;
}
