// The signed-in caller: a bearer token (a JWT minted by `waybill token` or an identity
// provider) kept in the browser's local storage, and the subject and role it claims. The
// page does not verify the token: the gateway and the services do, on every call.

import { createWaybillClient, type WaybillClient } from "@waybill/sdk";

/** Session is the signed-in caller. */
export interface Session {
  token: string;
  subject: string;
  role: string;
  /** Expiry in Unix seconds, or 0 when the token has none. */
  exp: number;
}

const storageKey = "waybill.token";

/** parseToken reads the claims of a JWT, or returns null for anything that is not one. */
export function parseToken(token: string): Session | null {
  const parts = token.trim().split(".");
  if (parts.length !== 3) {
    return null;
  }
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4))) as Record<string, unknown>;
    if (typeof claims.sub !== "string" || typeof claims.role !== "string") {
      return null;
    }
    return { token: token.trim(), subject: claims.sub, role: claims.role, exp: typeof claims.exp === "number" ? claims.exp : 0 };
  } catch {
    return null;
  }
}

/**
 * loadSession returns the session of a sign-in link (`/app/#token=…`, which it then
 * removes from the address bar so the token is not left in the history) or the stored one.
 */
export function loadSession(): Session | null {
  const m = /^#token=([^&]+)/.exec(location.hash);
  if (m) {
    const s = parseToken(decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
    if (s) {
      saveSession(s);
      return s;
    }
  }
  const stored = localStorage.getItem(storageKey);
  const s = stored ? parseToken(stored) : null;
  if (s && s.exp !== 0 && s.exp * 1000 < Date.now()) {
    clearSession();
    return null;
  }
  return s;
}

/** saveSession stores the session's token. */
export function saveSession(s: Session): void {
  localStorage.setItem(storageKey, s.token);
}

/** clearSession signs out. */
export function clearSession(): void {
  localStorage.removeItem(storageKey);
}

/** clientFor returns an API client that calls the gateway serving this page with s's token. */
export function clientFor(s: Session): WaybillClient {
  return createWaybillClient({ baseUrl: location.origin, token: s.token });
}

/** isStaff says whether the role sees every customer's objects (operators and services). */
export function isStaff(s: Session): boolean {
  return s.role === "operator" || s.role === "service";
}
