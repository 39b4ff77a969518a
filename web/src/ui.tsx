// Small pieces every page uses: money, times, enum labels, badges, errors and progress.

import { ApiError, type Schemas } from "@waybill/sdk";
import type { ComponentChildren } from "preact";

/** money formats integer minor units with their ISO 4217 currency ("120.00 EUR"). */
export function money(m: Schemas["Money"] | undefined): string {
  if (!m || !m.currencyCode) {
    return "—";
  }
  const code = m.currencyCode;
  let digits = 2;
  try {
    digits = new Intl.NumberFormat("en", { style: "currency", currency: code }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    // An unknown code: show two decimals.
  }
  const minor = BigInt(m.amountMinor ?? "0");
  const neg = minor < 0n;
  const abs = neg ? -minor : minor;
  const scale = 10n ** BigInt(digits);
  const whole = (abs / scale).toString();
  const frac = digits > 0 ? "." + (abs % scale).toString().padStart(digits, "0") : "";
  return `${neg ? "-" : ""}${whole}${frac} ${code}`;
}

/** time formats an RFC 3339 time in the browser's zone, or "—". */
export function time(t: string | undefined): string {
  if (!t) {
    return "—";
  }
  const d = new Date(t);
  return isNaN(d.getTime()) ? t : d.toLocaleString();
}

/** label turns an enum value ("BILL_STATUS_OPEN") into a word ("open"), dropping the prefix. */
export function label(v: string | undefined, prefix: string): string {
  if (!v) {
    return "—";
  }
  return v.replace(prefix, "").replace(/_/g, " ").toLowerCase();
}

/** ErrorBox shows an API error as its message and the fields it names; nothing for null. */
export function ErrorBox({ error }: { error: unknown }) {
  if (!error) {
    return null;
  }
  let text = String(error);
  let fields: { field: string; description: string }[] = [];
  if (error instanceof ApiError) {
    text = error.message;
    fields = error.fieldViolations;
  } else if (error instanceof Error) {
    text = error.message;
  }
  return (
    <div class="error" role="alert">
      <strong>{text}</strong>
      {fields.length > 0 && (
        <ul>
          {fields.map((f) => (
            <li key={f.field}>
              <code>{f.field}</code>: {f.description}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** Busy shows that a long action is running. */
export function Busy({ children }: { children?: ComponentChildren }) {
  return (
    <span class="busy" role="status">
      <span class="spinner" aria-hidden="true" />
      {children ?? "working…"}
    </span>
  );
}

/** Badge is a small coloured label; tone picks the colour. */
export function Badge({ tone, children, title }: { tone: string; children: ComponentChildren; title?: string }) {
  return (
    <span class={`badge badge-${tone}`} title={title}>
      {children}
    </span>
  );
}

/** statusTone picks a badge colour for a main status word. */
export function statusTone(status: string | undefined): string {
  const s = (status ?? "").toLowerCase();
  if (/paid|settled|confirmed|completed|succeeded|captured|active/.test(s)) {
    return "ok";
  }
  if (/cancel|expired|failed|void|declin|disabled/.test(s)) {
    return "bad";
  }
  if (/running|compensat|finalized|held|pending|progress/.test(s)) {
    return "warn";
  }
  return "neutral";
}

/** run wraps an async action with busy and error state setters. */
export async function run<T>(setBusy: (b: boolean) => void, setError: (e: unknown) => void, f: () => Promise<T>): Promise<T | undefined> {
  setBusy(true);
  setError(null);
  try {
    return await f();
  } catch (e) {
    setError(e);
    return undefined;
  } finally {
    setBusy(false);
  }
}
