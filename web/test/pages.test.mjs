// The pages in a real browser (Debian's Chromium driven by playwright-core) against a real
// mesh: web/browser_test.go starts `waybill up` and sets WAYBILL_GATEWAY, WAYBILL_BIN,
// WAYBILL_MESH_LOG (its output, for the pids of its processes) and WAYBILL_UP_PID.
// A failed test leaves a screenshot in WAYBILL_ARTIFACTS.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";

import { createWaybillClient, requestId, unwrap } from "../../sdk/typescript/dist/index.js";

const gateway = process.env.WAYBILL_GATEWAY;
const bin = process.env.WAYBILL_BIN;
const artifacts = process.env.WAYBILL_ARTIFACTS || "web/test-results";
if (!gateway || !bin) {
  throw new Error("run through web/browser_test.go (go test ./web), which starts the mesh and sets WAYBILL_GATEWAY and WAYBILL_BIN");
}

/** token mints a token with the waybill binary (signed with the mesh's development secret). */
function token(subject, role) {
  return execFileSync(bin, ["token", "--subject", subject, "--role", role], { encoding: "utf8" }).trim();
}

let browser;
let seeded; // the demo day's bills: {id, customer, status, reservations: [{id, kind}]}
const opsToken = token("ops-1", "operator");
const ops = createWaybillClient({ baseUrl: gateway, token: opsToken });

before(async () => {
  // The mesh runs with --demo: read back the bills it seeded (customers c-1 … c-12).
  const { bills } = unwrap(await ops.GET("/v1/bills", { params: { query: { pageSize: 500 } } }));
  seeded = {
    bills: bills
      .filter((b) => /^c-\d+$/.test(b.customerId))
      .map((b) => ({ id: b.id, customer: b.customerId, status: b.status, reservations: (b.items ?? []).map((it) => ({ id: it.reservationId, kind: it.kind })) })),
  };
  assert.equal(seeded.bills.length, 45, "waybill up --demo seeded 45 bills");
  assert.ok(seeded.bills.some((b) => b.status === "BILL_STATUS_PAID"), "some demo bills are paid");
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
});

after(async () => {
  await browser?.close();
});

/** page opens the pages signed in with tok (through a sign-in link) at hash, in a fresh context. */
async function open(tok, hash = "", viewport = { width: 1400, height: 1000 }) {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${gateway}/app/#token=${encodeURIComponent(tok)}`);
  if (hash) {
    await page.evaluate((h) => (location.hash = h), hash);
  }
  page.errors = errors;
  return page;
}

/** shot runs f(page) and saves a screenshot of page when it fails. */
async function shot(name, page, f) {
  try {
    await f();
    assert.deepEqual(page.errors, [], "the page threw no errors");
  } catch (e) {
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true }).catch(() => {});
    throw e;
  } finally {
    await page.context().close();
  }
}

async function waitLive(page) {
  await page.getByTestId("live").filter({ hasText: "live" }).waitFor({ timeout: 10_000 });
}

test("sign-in takes a token; a bad one is refused with a message", async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.errors = [];
  await shot("sign-in", page, async () => {
    await page.goto(`${gateway}/app/`);
    await page.locator("textarea[name=token]").fill("not-a-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "not a Waybill token" }).waitFor();
    await page.locator("textarea[name=token]").fill(opsToken);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByTestId("who").filter({ hasText: "ops-1 (operator)" }).waitFor();
    await page.locator("tr.bill").first().waitFor();
    // The sign-in link leaves no token in the address bar.
    const page2 = await open(opsToken);
    await page2.getByTestId("who").waitFor();
    assert.ok(!page2.url().includes("token="), `the address bar keeps no token: ${page2.url()}`);
    await page2.context().close();
  });
});

test("the link `waybill up` prints signs in an operator", async () => {
  const log = readFileSync(process.env.WAYBILL_MESH_LOG, "utf8");
  const link = /Operator panel \(this link signs you in as an operator\): (\S+)/.exec(log)?.[1];
  assert.ok(link, "waybill up printed a sign-in link");
  assert.ok(link.startsWith(`${gateway}/app/#token=`), link);
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.errors = [];
  await shot("sign-in-link", page, async () => {
    await page.goto(link);
    await page.getByTestId("who").filter({ hasText: "(operator)" }).waitFor();
    await page.locator("tr.bill").first().waitFor();
  });
});

test("the panel shows 40+ bills with their items, and FULL details on demand", async () => {
  const page = await open(opsToken);
  await shot("panel", page, async () => {
    await waitLive(page);
    await page.waitForFunction(() => document.querySelectorAll("tr.bill").length >= 40, null, { timeout: 10_000 });
    const rows = await page.locator("tr.bill").count();
    assert.ok(rows >= 40, `${rows} bills shown`);
    const firstItems = page.locator("tr.bill li[data-item]");
    assert.ok((await firstItems.count()) >= rows, "every bill shows its items");
    const text = await page.locator("table.bills").innerText();
    for (const want of ["FLIGHT", "TRAIN", "BUS", "STAY", "LH 400 FRA → JFK", "Hotel Adlon", "420.00 EUR", "fresh", "pending", "cancelled", "finalized"]) {
      assert.ok(text.includes(want), `the panel shows ${want}`);
    }
    // FULL view of one bill with two items: the providers' details with their timelines.
    const two = seeded.bills.find((b) => b.reservations.length === 2 && b.status === "BILL_STATUS_OPEN");
    await page.locator(`tr[data-bill="${two.id}"] button.link`).click();
    const details = page.getByTestId("details");
    await details.locator('[data-details-status="DETAILS_STATUS_OK"]').nth(1).waitFor();
    const dt = await details.innerText();
    assert.match(dt, /Traveler c-\d+|Guest c-\d+/, "details name the travelers");
    assert.ok((await details.locator("ol.timeline li").count()) >= 2, "details carry the timeline");
    // View payments of a paid bill's customer.
    const paid = seeded.bills.find((b) => b.status === "BILL_STATUS_PAID");
    await page.locator(`tr[data-bill="${paid.id}"] button.link`).click();
    await page.locator(`tr[data-bill="${paid.id}"] + tr.details-row`).getByRole("button", { name: "View payments" }).click();
    await page.getByTestId("payments").locator("tr.this-bill").filter({ hasText: "captured" }).waitFor();
  });
});

test("a change made through the API appears live, marked, within 2 s and without a reload", async () => {
  const page = await open(opsToken);
  await shot("live", page, async () => {
    await waitLive(page);
    await page.evaluate(() => (window.__sameDocument = true));
    const bill = seeded.bills.find((b) => b.status === "BILL_STATUS_OPEN" && b.reservations.length === 1);
    const rid = bill.reservations[0].id;
    const item = page.locator(`li[data-reservation="${rid}"]`);
    assert.equal(await item.getByTestId("item-status").innerText(), "pending");
    // Another process (this test, through the REST API) confirms the reservation.
    const customer = createWaybillClient({ baseUrl: gateway, token: token(bill.customer, "customer") });
    const t0 = Date.now();
    unwrap(await customer.POST("/v1/reservations/{reservationId}:confirm", { params: { path: { reservationId: rid } }, body: { requestId: requestId() } }));
    await page.locator(`li[data-reservation="${rid}"][data-changed="true"]`).getByTestId("item-status").filter({ hasText: "confirmed" }).waitFor({ timeout: 2000 });
    const ms = Date.now() - t0;
    console.log(`confirmed reservation shown live after ${ms} ms`);
    assert.ok(await page.evaluate(() => window.__sameDocument === true), "the page was not reloaded");
    // A bill-level change (an operator's sub-status) marks the row.
    const other = seeded.bills.find((b) => b.status === "BILL_STATUS_OPEN" && b.id !== bill.id);
    unwrap(await ops.POST("/v1/bills/{billId}:setSubStatus", { params: { path: { billId: other.id } }, body: { subStatus: "awaiting_po" } }));
    await page.locator(`tr[data-bill="${other.id}"][data-changed="true"]`).filter({ hasText: "awaiting_po" }).waitFor({ timeout: 2000 });
    // Unchanged bills are not marked.
    const untouched = seeded.bills.filter((b) => b.status === "BILL_STATUS_OPEN" && b.id !== bill.id && b.id !== other.id);
    for (const b of untouched) {
      assert.equal(await page.locator(`tr[data-bill="${b.id}"]`).getAttribute("data-changed"), null, `bill ${b.id} was not changed`);
    }
  });
});

test("filters (status, customer, kind) and pagination", async () => {
  const page = await open(opsToken);
  await shot("filters", page, async () => {
    await waitLive(page);
    await page.locator("select[name=status]").selectOption("BILL_STATUS_CANCELLED");
    await page.getByRole("button", { name: "Apply" }).click();
    const cancelled = seeded.bills.filter((b) => b.status === "BILL_STATUS_CANCELLED").length;
    await page.waitForFunction((n) => document.querySelectorAll("tr.bill").length === n, cancelled, { timeout: 5000 });
    for (const s of await page.locator("tr.bill td:nth-child(3) .badge").allInnerTexts()) {
      assert.equal(s, "cancelled");
    }
    await page.locator("select[name=status]").selectOption("");
    await page.locator("input[name=customer]").fill("c-3");
    await page.getByRole("button", { name: "Apply" }).click();
    const c3 = seeded.bills.filter((b) => b.customer === "c-3").length;
    await page.waitForFunction((n) => document.querySelectorAll("tr.bill").length === n, c3, { timeout: 5000 });
    for (const c of await page.locator("tr.bill td:nth-child(2)").allInnerTexts()) {
      assert.equal(c, "c-3");
    }
    await page.locator("input[name=customer]").fill("");
    await page.locator("select[name=kind]").selectOption("KIND_STAY");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll("tr.bill")];
      return rows.length > 0 && rows.length < 40 && rows.every((r) => r.querySelector("li[data-item]")?.closest("ul")?.textContent?.includes("stay"));
    }, null, { timeout: 5000 });
    await page.locator("select[name=kind]").selectOption("");
    await page.locator("select[name=pageSize]").selectOption("20");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.waitForFunction(() => document.querySelectorAll("tr.bill").length === 20, null, { timeout: 5000 });
    const first = await page.locator("tr.bill").evaluateAll((rows) => rows.map((r) => r.dataset.bill));
    await page.getByRole("button", { name: "Next →" }).click();
    await page.getByTestId("page").filter({ hasText: "page 2" }).waitFor();
    await page.waitForFunction((ids) => {
      const rows = [...document.querySelectorAll("tr.bill")];
      return rows.length === 20 && rows.every((r) => !ids.includes(r.dataset.bill));
    }, first, { timeout: 5000 });
    await page.getByRole("button", { name: "← Previous" }).click();
    await page.waitForFunction((ids) => [...document.querySelectorAll("tr.bill")].map((r) => r.dataset.bill).join() === ids.join(), first, { timeout: 5000 });
  });
});

test("a customer searches, holds a seat, and pays the bill, seeing it become paid", async () => {
  const page = await open(token(`c-pay-${Date.now()}`, "customer"), "", { width: 420, height: 900 }); // phone width
  await shot("customer-pays", page, async () => {
    await page.getByRole("heading", { name: "Search" }).waitFor();
    await page.locator("input[name=origin]").fill("FRA");
    await page.locator("input[name=destination]").fill("JFK");
    await page.getByRole("button", { name: "Search" }).click();
    const offer = page.locator("li.offer").filter({ hasText: "LH 400" }).first();
    await offer.getByRole("button", { name: "Hold" }).click();
    await page.getByTestId("held").filter({ hasText: "420.00 EUR" }).waitFor();
    await page.getByTestId("held").getByRole("button", { name: "Put on a bill" }).click();
    await page.getByRole("heading", { name: "My bills" }).waitFor();
    const card = page.locator("article.bill-card").first();
    await card.filter({ hasText: "LH 400 FRA → JFK" }).waitFor();
    await page.getByRole("button", { name: "Add card" }).click();
    await page.locator("details.methods summary").filter({ hasText: "(1)" }).waitFor();
    await card.getByRole("button", { name: "Finalize" }).click();
    await page.locator('article.bill-card[data-status="BILL_STATUS_FINALIZED"]').waitFor();
    await card.getByRole("button", { name: /^Pay/ }).click();
    await page.locator('article.bill-card[data-status="BILL_STATUS_PAID"]').waitFor({ timeout: 10_000 });
    await card.getByTestId("saga").filter({ hasText: "succeeded" }).waitFor();
    // My reservations shows the seat confirmed by the pay saga.
    await page.getByRole("link", { name: "My reservations" }).click();
    await page.locator("tr[data-reservation]").filter({ hasText: "confirmed" }).waitFor();
    // An API error is shown with its message and field, not a blank page.
    await page.getByRole("link", { name: "Search" }).click();
    await page.locator("input[name=date]").fill("2020-01-01");
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByRole("alert").filter({ hasText: "must be today or later" }).locator("code").filter({ hasText: "date" }).waitFor();
  });
});

test("the analytics dashboard shows the KPIs of the demo day as numbers and charts", async () => {
  const page = await open(opsToken, "#/analytics");
  await shot("analytics", page, async () => {
    await page.getByRole("heading", { name: "Analytics" }).waitFor();
    const bookings = page.locator('[data-kpi="Bookings"] .kpi-value');
    await bookings.waitFor();
    // Analytics follows the other services' events: show again until the paid demo bills' seats count.
    for (let i = 0; i < 20 && Number(await bookings.innerText()) < 1; i++) {
      await page.waitForTimeout(500);
      await page.getByRole("button", { name: "Show" }).click();
    }
    assert.ok(Number(await bookings.innerText()) >= 1, `bookings: ${await bookings.innerText()}`);
    assert.match(await page.locator('[data-kpi="Gross revenue"] .kpi-value').innerText(), /EUR|—/);
    await page.getByTestId("chart-Bookings").locator("rect.bar").first().waitFor();
  });
});

test("a rider requests a ride, the demo driver takes it, and the rider follows it live to its fare", async () => {
  const log = readFileSync(process.env.WAYBILL_MESH_LOG, "utf8");
  const link = /Driver page \(this link signs you in as the demo driver\): (\S+)/.exec(log)?.[1];
  assert.ok(link, "waybill up --demo printed a driver link");
  const dctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const driver = await dctx.newPage();
  driver.errors = [];
  driver.on("pageerror", (e) => driver.errors.push(e.message));
  const rider = await open(token(`rider-${Date.now()}`, "customer"), "#/ride");
  try {
    await shot("ride-driver", driver, async () => {
      await driver.goto(link);
      await driver.getByRole("heading", { name: "Drive" }).waitFor();
      await driver.getByRole("button", { name: "Go online" }).click();
      await driver.getByTestId("driver-status").filter({ hasText: "available" }).waitFor();
      await driver.waitForTimeout(500); // the first position is sent
      await shot("ride-rider", rider, async () => {
        await rider.getByRole("heading", { name: "Ride" }).waitFor();
        await rider.getByTestId("map").waitFor();
        await rider.getByRole("button", { name: "Request ride" }).click();
        await rider.getByTestId("trip").waitFor();
        await driver.getByTestId("offer").getByRole("button", { name: "Accept" }).click({ timeout: 15_000 });
        await rider.getByTestId("trip-status").filter({ hasText: "driver assigned" }).waitFor({ timeout: 10_000 });
        await driver.getByRole("button", { name: "Start trip" }).click();
        await rider.getByTestId("trip-status").filter({ hasText: "started" }).waitFor({ timeout: 10_000 });
        await driver.waitForTimeout(2500); // a recorded route point or two
        await driver.getByRole("button", { name: "End trip" }).click();
        await rider.getByTestId("trip-status").filter({ hasText: "ended" }).waitFor({ timeout: 10_000 });
        await rider.getByTestId("fare-total").filter({ hasText: "EUR" }).waitFor({ timeout: 15_000 });
        const lines = await rider.getByTestId("fare").locator("tr").count();
        assert.ok(lines >= 2, `the fare has its breakdown (${lines} lines)`);
      });
    });
  } finally {
    await dctx.close().catch(() => {});
  }
});

test("the dead-letter view lists parked events (none in a healthy mesh)", async () => {
  const page = await open(opsToken, "#/parked");
  await shot("parked", page, async () => {
    await page.getByRole("heading", { name: "Parked events" }).waitFor();
    await page.locator(".empty").filter({ hasText: "No parked events in billing" }).waitFor();
  });
});

test("the panel rides out a gateway restart: it reconnects from its cursor and stays live", async () => {
  const page = await open(opsToken);
  await shot("gateway-restart", page, async () => {
    await waitLive(page);
    await page.evaluate(() => (window.__sameDocument = true));
    process.kill(pidOf("gateway"), "SIGKILL");
    await page.getByTestId("live").filter({ hasText: "reconnecting" }).waitFor({ timeout: 10_000 });
    // The supervisor restarts the gateway; once it answers, a change made now reaches the page.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await fetch(`${gateway}/healthz`).catch(() => null);
      if (r?.ok) {
        break;
      }
      assert.ok(Date.now() < deadline, "the gateway came back");
      await new Promise((res) => setTimeout(res, 200));
    }
    const bill = seeded.bills.find((b) => b.status === "BILL_STATUS_FINALIZED");
    unwrap(await ops.POST("/v1/bills/{billId}:setSubStatus", { params: { path: { billId: bill.id } }, body: { subStatus: "after_restart" } }));
    await page.locator(`tr[data-bill="${bill.id}"][data-changed="true"]`).filter({ hasText: "after_restart" }).waitFor({ timeout: 15_000 });
    await page.getByTestId("live").filter({ hasText: "live" }).waitFor();
    assert.ok(await page.evaluate(() => window.__sameDocument === true), "the page was not reloaded");
  });
});

/** pidOf returns the pid of the last start of a process of the mesh, from its log. */
function pidOf(name) {
  const log = readFileSync(process.env.WAYBILL_MESH_LOG, "utf8");
  const all = [...log.matchAll(new RegExp(`msg="process started" service=up process=${name} pid=(\\d+)`, "g"))];
  assert.ok(all.length > 0, `no pid of ${name} in the mesh's log`);
  return Number(all[all.length - 1][1]);
}

test("a provider down: its items are marked unavailable, the rest of the page works", async () => {
  const up = Number(process.env.WAYBILL_UP_PID);
  const page = await open(opsToken);
  await shot("provider-down", page, async () => {
    await waitLive(page);
    await page.locator("tr.bill").nth(39).waitFor();
    // Pause the supervisor so that it does not restart booking at once, then kill booking.
    process.kill(up, "SIGSTOP");
    try {
      process.kill(pidOf("booking"), "SIGKILL");
      const banner = page.getByTestId("degraded").filter({ hasText: "booking is unavailable" });
      await banner.waitFor({ timeout: 5000 });
      const rows = await page.locator("tr.bill").count();
      assert.ok(rows >= 40, `${rows} bills still shown`);
      // The banner and the badges are rendered from the same state, but not necessarily in
      // the same frame: give the page a moment to mark every item.
      let badges = [];
      for (const deadline = Date.now() + 5000; ; ) {
        badges = await page.locator('li[data-provider="booking"]').getByTestId("freshness").allInnerTexts();
        if ((badges.length >= 40 && badges.every((b) => b === "provider unavailable")) || Date.now() > deadline) {
          break;
        }
        await new Promise((res) => setTimeout(res, 100));
      }
      assert.ok(badges.length >= 40 && badges.every((b) => b === "provider unavailable"), `booking's items are marked: ${[...new Set(badges)]}`);
      for (const b of await page.locator('li[data-provider]:not([data-provider="booking"])').getByTestId("freshness").allInnerTexts()) {
        assert.notEqual(b, "provider unavailable", "other providers' items are not marked");
      }
      // Details of a bill still open, with booking's items marked unavailable.
      const booked = seeded.bills.find((b) => b.status === "BILL_STATUS_OPEN");
      await page.locator(`tr[data-bill="${booked.id}"] button.link`).click();
      await page.getByTestId("details").locator('[data-details-status="DETAILS_STATUS_UNAVAILABLE"]').first().waitFor({ timeout: 5000 });
      // Billing itself still answers: an operator action works.
      const bill = seeded.bills.find((b) => b.status === "BILL_STATUS_OPEN");
      unwrap(await ops.POST("/v1/bills/{billId}:setSubStatus", { params: { path: { billId: bill.id } }, body: { subStatus: "checked_while_booking_down" } }));
      await page.locator(`tr[data-bill="${bill.id}"]`).filter({ hasText: "checked_while_booking_down" }).waitFor({ timeout: 3000 });
    } finally {
      process.kill(up, "SIGCONT");
    }
    // The supervisor restarts booking and the banner goes away.
    await page.getByTestId("degraded").waitFor({ state: "detached", timeout: 20_000 });
  });
});
