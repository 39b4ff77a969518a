/**
 * Waybill's TypeScript SDK: `paths` and `components` are generated from the gateway's
 * OpenAPI 3 document by `make generate` (openapi-typescript); `createWaybillClient` is a
 * typed fetch client over them (openapi-fetch) that sends the bearer token; `watchBills`,
 * `subscribeEvents`, `watchTrip` and `watchDriverOffers` follow the gateway's
 * newline-delimited JSON streams as async iterators that reconnect (from their cursor,
 * where the stream has one).
 */
import createClient from "openapi-fetch";
import { toApiError } from "./errors.js";
import { resumeStream } from "./ndjson.js";
export { ApiError, Codes, toApiError } from "./errors.js";
export { readStream, resumeStream, retryable } from "./ndjson.js";
/** createWaybillClient returns a typed client of the gateway that sends the bearer token with every call. */
export function createWaybillClient(opts) {
    const client = createClient({ baseUrl: opts.baseUrl, fetch: opts.fetch });
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
export function unwrap(r) {
    if (r.error !== undefined || !r.response.ok) {
        throw toApiError(r.error, r.response.status);
    }
    return r.data;
}
/** requestId returns a fresh idempotency key for a mutation. */
export function requestId() {
    return crypto.randomUUID();
}
/**
 * watchBills follows WatchBills (`GET /v1/bills:watch`): snapshot (with includeSnapshot),
 * then live changes and heartbeats. After a break it resumes after the last cursor (without
 * the snapshot again), so no change is missed; an OUT_OF_RANGE ApiError means the cursor
 * is older than billing's change log and the caller must start over with a snapshot.
 */
export function watchBills(client, query, opts = {}) {
    return resumeStream({
        ...opts,
        cursorOf: (m) => m.cursor,
        async open(cursor, signal) {
            const q = cursor ? { ...query, includeSnapshot: undefined, afterCursor: cursor } : query;
            const r = await client.GET("/v1/bills:watch", { params: { query: q }, parseAs: "stream", signal });
            return streamBody(r);
        },
    });
}
/**
 * subscribeEvents follows a service's event log (`GET /v1/events/{service}:subscribe`,
 * operators and services only): events after the cursor, then live, resuming after the
 * last cursor seen whenever the stream breaks.
 */
export function subscribeEvents(client, service, query = {}, opts = {}) {
    return resumeStream({
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
export function watchTrip(client, tripId, opts = {}) {
    let last;
    return resumeStream({
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
export function watchDriverOffers(client, driverId, opts = {}) {
    return resumeStream({
        ...opts,
        cursorOf: () => undefined,
        async open(_cursor, signal) {
            const r = await client.GET("/v1/drivers/{driverId}/offers:watch", { params: { path: { driverId } }, parseAs: "stream", signal });
            return streamBody(r);
        },
    });
}
function streamBody(r) {
    if (r.error !== undefined || !r.response.ok || !r.data) {
        throw toApiError(r.error, r.response.status);
    }
    return r.data;
}
