// Seeds a running mesh through the gateway with the SDK: rate cards, departures and a
// property, then a realistic day of bills: 45 bills of 12 customers holding seats on
// flights, a train and a bus and rooms in Berlin, some finalized, some cancelled, a few
// paid. The browser tests use it; by hand:
//
//   node web/test/seed.mjs http://127.0.0.1:8080 bin/waybill
import { execFileSync } from "node:child_process";

import { ApiError, Codes, createWaybillClient, requestId, unwrap } from "../../sdk/typescript/dist/index.js";

/** token mints a token with the waybill binary (signed with the mesh's development secret). */
export function token(bin, subject, role) {
  return execFileSync(bin, ["token", "--subject", subject, "--role", role], { encoding: "utf8" }).trim();
}

/** rateCard creates a rate card unless one already prices the product (a second seed of the same mesh). */
async function rateCard(ops, rateCard) {
  try {
    unwrap(await ops.POST("/v1/rateCards", { body: { rateCard, requestId: requestId() } }));
  } catch (e) {
    if (!(e instanceof ApiError && e.code === Codes.ALREADY_EXISTS)) {
      throw e;
    }
  }
}

/** Routes seeded: one departure each, 3 days from now. */
export const routes = [
  { mode: "TRANSPORT_MODE_FLIGHT", carrier: "LH", number: "400", origin: "FRA", destination: "JFK", price: 42000 },
  { mode: "TRANSPORT_MODE_FLIGHT", carrier: "AF", number: "1019", origin: "CDG", destination: "FRA", price: 15900 },
  { mode: "TRANSPORT_MODE_TRAIN", carrier: "DB", number: "ICE 597", origin: "BER", destination: "MUC", price: 8990 },
  { mode: "TRANSPORT_MODE_BUS", carrier: "FLX", number: "N123", origin: "BER", destination: "PRG", price: 2499 },
];

const kindOf = { TRANSPORT_MODE_FLIGHT: "KIND_FLIGHT", TRANSPORT_MODE_TRAIN: "KIND_TRAIN", TRANSPORT_MODE_BUS: "KIND_BUS" };

function hoursFromNow(h) {
  const d = new Date(Date.now() + h * 3600_000);
  d.setUTCMinutes(0, 0, 0);
  return d.toISOString().replace(/\.\d+Z$/, "Z");
}

function dateIn(days) {
  const d = new Date(Date.now() + days * 86_400_000);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** pool runs f over items, n at a time. */
async function pool(items, n, f) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i], i);
      }
    }),
  );
  return out;
}

/**
 * seed fills the mesh behind gateway and returns what it made: the departures, the
 * property, and the bills (id, customer, reservation ids, final status).
 */
export async function seed(gateway, bin, { bills: count = 45, customers = 12 } = {}) {
  const ops = createWaybillClient({ baseUrl: gateway, token: token(bin, "ops-seed", "operator") });
  const departures = [];
  for (const r of routes) {
    await rateCard(ops, {
      productKey: { seat: { carrier: r.carrier, origin: r.origin, destination: r.destination, fareClass: "economy" } },
      currencyCode: "EUR",
      inventory: { unitPrice: { amountMinor: String(r.price), currencyCode: "EUR" } },
    });
    const { departure } = unwrap(
      await ops.POST("/v1/departures", {
        body: {
          departure: {
            mode: r.mode,
            carrier: r.carrier,
            number: r.number,
            origin: r.origin,
            destination: r.destination,
            departureTime: hoursFromNow(72),
            arrivalTime: hoursFromNow(80),
            originTimeZone: "Europe/Berlin",
            fareClasses: [{ name: "economy", capacity: 400 }],
          },
          requestId: requestId(),
        },
      }),
    );
    departures.push({ ...r, id: departure.id, kind: kindOf[r.mode] });
  }
  const { property } = unwrap(
    await ops.POST("/v1/properties", {
      body: {
        property: {
          name: "Hotel Adlon",
          city: "berlin",
          address: "Unter den Linden 77",
          location: { latitude: 52.5, longitude: 13.38 },
          timeZone: "Europe/Berlin",
          roomTypes: [{ name: "double", nightlyCapacity: 200, maxGuests: 2 }],
        },
        requestId: requestId(),
      },
    }),
  );
  await rateCard(ops, {
    productKey: { stay: { propertyId: property.id, roomType: "double" } },
    currencyCode: "EUR",
    inventory: { unitPrice: { amountMinor: "12900", currencyCode: "EUR" } },
  });

  const clients = Array.from({ length: customers }, (_, i) => {
    const subject = `c-${i + 1}`;
    return { subject, client: createWaybillClient({ baseUrl: gateway, token: token(bin, subject, "customer") }) };
  });
  const methods = new Map();
  const hold = async (c, i) => {
    const reservation =
      i % 5 === 4
        ? {
            stay: { propertyId: property.id, roomType: "double", checkInDate: dateIn(7 + (i % 3)), checkOutDate: dateIn(9 + (i % 3)), guestCount: 2 },
            quantity: 1,
            travelers: [{ fullName: `Guest ${c.subject}` }],
          }
        : { seat: { departureId: departures[i % departures.length].id, fareClass: "economy" }, quantity: 1 + (i % 2), travelers: [{ fullName: `Traveler ${c.subject}` }] };
    if (reservation.quantity === 2 && reservation.seat) {
      reservation.travelers.push({ fullName: `Companion of ${c.subject}` });
    }
    const { reservation: r } = unwrap(await c.client.POST("/v1/reservations", { body: { reservation, requestId: requestId(), holdDuration: "3600s" } }));
    return r;
  };
  const made = await pool(
    Array.from({ length: count }, (_, i) => i),
    6,
    async (i) => {
      const c = clients[i % clients.length];
      const { bill } = unwrap(await c.client.POST("/v1/bills", { body: { customerId: c.subject, currencyCode: "EUR", requestId: requestId() } }));
      const reservations = [await hold(c, i)];
      if (i % 3 === 0) {
        reservations.push(await hold(c, i + 1));
      }
      for (const r of reservations) {
        unwrap(
          await c.client.POST("/v1/bills/{billId}/items", {
            params: { path: { billId: bill.id } },
            body: { kind: r.kind, reservationId: r.id, requestId: requestId() },
          }),
        );
      }
      let status = "BILL_STATUS_OPEN";
      if (i % 7 === 2) {
        unwrap(await c.client.POST("/v1/bills/{billId}:cancel", { params: { path: { billId: bill.id } }, body: { reason: "changed plans", requestId: requestId() } }));
        status = "BILL_STATUS_CANCELLED";
      } else if (i % 5 === 1 || i % 11 === 3) {
        unwrap(await c.client.POST("/v1/bills/{billId}:finalize", { params: { path: { billId: bill.id } }, body: { requestId: requestId() } }));
        status = "BILL_STATUS_FINALIZED";
        if (i % 11 === 3) {
          if (!methods.has(c.subject)) {
            methods.set(
              c.subject,
              unwrap(
                await c.client.POST("/v1/paymentMethods", {
                  body: { customerId: c.subject, card: { number: "4242424242424242", expiryMonth: 12, expiryYear: 2040, cvc: "123" }, requestId: requestId() },
                }),
              ).paymentMethod.id,
            );
          }
          unwrap(
            await c.client.POST("/v1/bills/{billId}:pay", {
              params: { path: { billId: bill.id } },
              body: { paymentMethodId: methods.get(c.subject), requestId: requestId() },
            }),
          );
          status = "BILL_STATUS_PAID"; // once the saga finishes
        }
      }
      return { id: bill.id, customer: c.subject, reservations: reservations.map((r) => ({ id: r.id, kind: r.kind })), status };
    },
  );
  return { departures, property, bills: made };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [gateway = "http://127.0.0.1:8080", bin = "bin/waybill"] = process.argv.slice(2);
  const r = await seed(gateway, bin);
  console.log(`seeded ${r.bills.length} bills of ${new Set(r.bills.map((b) => b.customer)).size} customers on ${r.departures.length} departures and 1 property`);
}
