// The SDK against a real mesh (web/browser_test.go starts it and sets WAYBILL_GATEWAY and
// WAYBILL_BIN): typed calls, errors as ApiError with their code and fields, and the
// NDJSON streams consumed, cut and resumed from their cursor.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";

import { ApiError, Codes, createWaybillClient, readStream, requestId, subscribeEvents, unwrap, watchBills } from "../dist/index.js";

const gateway = process.env.WAYBILL_GATEWAY;
const bin = process.env.WAYBILL_BIN;
if (!gateway || !bin) {
  throw new Error("run through web/browser_test.go (go test ./web), which starts the mesh and sets WAYBILL_GATEWAY and WAYBILL_BIN");
}
const token = (subject, role) => execFileSync(bin, ["token", "--subject", subject, "--role", role], { encoding: "utf8" }).trim();
const ops = createWaybillClient({ baseUrl: gateway, token: token("sdk-ops", "operator") });
const customer = createWaybillClient({ baseUrl: gateway, token: token("sdk-c1", "customer") });
/** carrier is a carrier code of this run, so a rerun against the same mesh makes new rate cards. */
const carrier = "S" + String.fromCharCode(65 + Math.floor(Math.random() * 26));

test("typed calls create and read a bill, and list it", async () => {
  const { bill } = unwrap(await customer.POST("/v1/bills", { body: { customerId: "sdk-c1", currencyCode: "EUR", requestId: requestId() } }));
  assert.equal(bill.status, "BILL_STATUS_OPEN");
  assert.equal(bill.customerId, "sdk-c1");
  const got = unwrap(await customer.GET("/v1/bills/{billId}", { params: { path: { billId: bill.id } } }));
  assert.equal(got.bill.id, bill.id);
  const list = unwrap(await ops.GET("/v1/bills", { params: { query: { customerId: "sdk-c1", statuses: ["BILL_STATUS_OPEN"] } } }));
  assert.ok(list.bills.some((b) => b.id === bill.id), "ListBills as an operator shows the customer's bill");
  const rc = unwrap(
    await ops.POST("/v1/rateCards", {
      body: {
        rateCard: {
          productKey: { seat: { carrier, origin: "AMS", destination: "OSL", fareClass: "economy" } },
          currencyCode: "EUR",
          inventory: { unitPrice: { amountMinor: "5000", currencyCode: "EUR" } },
        },
        requestId: requestId(),
      },
    }),
  );
  assert.equal(rc.rateCard.currencyCode, "EUR");
});

test("errors are ApiErrors with the code, the reason and the fields", async () => {
  const r = await customer.POST("/v1/bills", { body: { customerId: "sdk-c1", currencyCode: "ZZZ", requestId: requestId() } });
  assert.equal(r.response.status, 400);
  assert.throws(
    () => unwrap(r),
    (e) => e instanceof ApiError && e.code === Codes.INVALID_ARGUMENT && e.fieldViolations.some((v) => v.field === "currency_code"),
  );
  const other = unwrap(await createWaybillClient({ baseUrl: gateway, token: token("sdk-c2", "customer") }).POST("/v1/bills", {
    body: { customerId: "sdk-c2", currencyCode: "EUR", requestId: requestId() },
  }));
  // Another customer's bill answers exactly like a missing one.
  const hidden = await customer.GET("/v1/bills/{billId}", { params: { path: { billId: other.bill.id } } });
  assert.throws(() => unwrap(hidden), (e) => e instanceof ApiError && e.code === Codes.NOT_FOUND && e.httpStatus === 404);
  const anonymous = createWaybillClient({ baseUrl: gateway });
  const r401 = await anonymous.GET("/v1/bills", {});
  assert.throws(() => unwrap(r401), (e) => e instanceof ApiError && e.code === Codes.UNAUTHENTICATED && e.httpStatus === 401);
});

/** cutAfter is a fetch that cuts every streamed response after n lines, as a broken connection would. */
function cutAfter(n, opened) {
  return async (req) => {
    opened.push(new URL(req.url));
    const res = await fetch(req);
    if (!res.body) {
      return res;
    }
    let lines = 0;
    const reader = res.body.getReader();
    const body = new ReadableStream({
      async pull(ctrl) {
        const { value, done } = await reader.read();
        if (done) {
          ctrl.close();
          return;
        }
        // Pass bytes until the n-th newline, then fail the stream there.
        for (let i = 0; i < value.length; i++) {
          if (value[i] === 10 && ++lines >= n) {
            ctrl.enqueue(value.subarray(0, i + 1));
            await reader.cancel();
            ctrl.error(new TypeError("network connection lost (cut by the test)"));
            return;
          }
        }
        ctrl.enqueue(value);
      },
      cancel() {
        return reader.cancel();
      },
    });
    return new Response(body, { status: res.status, headers: res.headers });
  };
}

test("an event stream is read, cut, and resumed from its cursor without a gap or a repeat", async () => {
  // Make a few booking events to read.
  const opsToken = token("sdk-ops", "operator");
  for (let i = 0; i < 6; i++) {
    unwrap(
      await ops.POST("/v1/departures", {
        body: {
          departure: {
            mode: "TRANSPORT_MODE_FLIGHT",
            carrier,
            number: String(100 + i),
            origin: "AMS",
            destination: "OSL",
            departureTime: new Date(Date.now() + 48 * 3600_000).toISOString().replace(/\.\d+Z$/, "Z"),
            arrivalTime: new Date(Date.now() + 50 * 3600_000).toISOString().replace(/\.\d+Z$/, "Z"),
            originTimeZone: "Europe/Amsterdam",
            fareClasses: [{ name: "economy", capacity: 10 }],
          },
          requestId: requestId(),
        },
      }),
    );
  }
  // Read the whole log once, plainly, to know what to expect.
  const first = [];
  for await (const m of subscribeEvents(ops, "booking", { payloadMode: "PAYLOAD_MODE_KEYS_ONLY" }, { signal: AbortSignal.timeout(20_000) })) {
    if (m.event) {
      first.push(Number(m.event.sequence));
    }
    if (first.length >= 6) {
      break;
    }
  }
  assert.ok(first.length >= 6, `read ${first.length} events`);

  // Now through a connection that breaks every 2 lines: the iterator reopens after the last
  // cursor each time, and the sequences come out contiguous.
  const opened = [];
  const cutting = createWaybillClient({ baseUrl: gateway, token: opsToken, fetch: cutAfter(2, opened) });
  const seqs = [];
  const reconnects = [];
  for await (const m of subscribeEvents(cutting, "booking", { payloadMode: "PAYLOAD_MODE_KEYS_ONLY" }, {
    signal: AbortSignal.timeout(20_000),
    backoff: { initialMs: 10, maxMs: 50 },
    onReconnect: (cursor) => reconnects.push(cursor),
  })) {
    if (m.event) {
      seqs.push(Number(m.event.sequence));
    }
    if (seqs.length >= 6) {
      break;
    }
  }
  assert.deepEqual(seqs, first.slice(0, 6), "the events after reconnects are the same, in order, none twice");
  assert.ok(reconnects.length >= 2, `reconnected ${reconnects.length} times`);
  assert.ok(reconnects.every((c) => typeof c === "string" && c.length > 0), "every reconnect resumes from a cursor");
  assert.ok(
    opened.slice(1).every((u) => u.searchParams.get("afterCursor")),
    "every reopened stream asks for the events after its cursor",
  );
});

test("WatchBills: snapshot, then a live change; resumed after a cut with no change missed", async () => {
  const { bill } = unwrap(await customer.POST("/v1/bills", { body: { customerId: "sdk-c1", currencyCode: "EUR", requestId: requestId() } }));
  const opened = [];
  const cutting = createWaybillClient({ baseUrl: gateway, token: token("sdk-ops", "operator"), fetch: cutAfter(3, opened) });
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 20_000).unref();
  const seen = [];
  let changed = false;
  for await (const m of watchBills(cutting, { billIds: [bill.id], includeSnapshot: true }, { signal: ac.signal, backoff: { initialMs: 10, maxMs: 50 } })) {
    if (m.heartbeat) {
      continue;
    }
    seen.push(m.changeType);
    if (m.changeType === "BILL_CHANGE_TYPE_SNAPSHOT_COMPLETE" && !changed) {
      changed = true;
      // Three changes while the stream is being cut and reopened.
      for (const sub of ["one", "two", "three"]) {
        unwrap(await ops.POST("/v1/bills/{billId}:setSubStatus", { params: { path: { billId: bill.id } }, body: { subStatus: sub } }));
      }
    }
    if (m.bill?.subStatus === "three") {
      ac.abort();
    }
  }
  assert.deepEqual(seen, [
    "BILL_CHANGE_TYPE_SNAPSHOT",
    "BILL_CHANGE_TYPE_SNAPSHOT_COMPLETE",
    "BILL_CHANGE_TYPE_UPDATED",
    "BILL_CHANGE_TYPE_UPDATED",
    "BILL_CHANGE_TYPE_UPDATED",
  ]);
  assert.ok(opened.length >= 2, "the stream was reopened");
  assert.equal(opened[0].searchParams.get("includeSnapshot"), "true");
  assert.ok(opened.slice(1).every((u) => u.searchParams.get("afterCursor") && !u.searchParams.get("includeSnapshot")), "reopened after the cursor, without a second snapshot");
});

test("a stream's error line is thrown as an ApiError; request errors are not retried", async () => {
  const body = new Blob(['{"result":{"heartbeat":true}}\n{"error":{"code":11,"message":"cursor too old"}}\n']).stream();
  const got = [];
  await assert.rejects(
    (async () => {
      for await (const m of readStream(body)) {
        got.push(m);
      }
    })(),
    (e) => e instanceof ApiError && e.code === Codes.OUT_OF_RANGE && e.message === "cursor too old",
  );
  assert.deepEqual(got, [{ heartbeat: true }]);
  // A malformed cursor is the caller's mistake: thrown at once, not retried forever.
  await assert.rejects(
    (async () => {
      for await (const _ of watchBills(ops, {}, { cursor: "not-a-cursor", maxAttempts: 0 })) {
        // nothing
      }
    })(),
    (e) => e instanceof ApiError && e.code === Codes.INVALID_ARGUMENT,
  );
});
