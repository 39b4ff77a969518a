// The entry of Waybill's pages: sign-in with a token, then the pages of the caller's role
// (hash routes, so the gateway serves one page): operators get the panel and the parked
// events, customers search, their reservations and their bills.

import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";

import { Analytics } from "./analytics";
import { Bills, Reservations, Search } from "./customer";
import { DeadLetters } from "./deadletters";
import { Panel } from "./panel";
import { Drive, Ride } from "./rides";
import { clearSession, clientFor, isStaff, loadSession, parseToken, saveSession, type Session } from "./session";
import "./style.css";

function useRoute(): string {
  const [route, setRoute] = useState(location.hash.replace(/^#/, "") || "/");
  useEffect(() => {
    const on = () => setRoute(location.hash.replace(/^#/, "") || "/");
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

function SignIn({ onSignIn }: { onSignIn(s: Session): void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState("");
  return (
    <section class="signin">
      <h1>Sign in to Waybill</h1>
      <p>
        Paste a bearer token. Locally, <code>waybill up</code> prints a link that signs you in as an operator, and{" "}
        <code>waybill token --subject c-42 --role customer</code> mints one for a customer.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const s = parseToken(token);
          if (!s) {
            setError("That is not a Waybill token: it needs a subject and a role.");
            return;
          }
          saveSession(s);
          onSignIn(s);
        }}
      >
        <textarea name="token" rows={4} value={token} onInput={(e) => setToken(e.currentTarget.value)} placeholder="eyJhbGciOi…" />
        <button type="submit">Sign in</button>
      </form>
      {error && (
        <div class="error" role="alert">
          {error}
        </div>
      )}
    </section>
  );
}

function App() {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  const route = useRoute();
  const client = useMemo(() => (session ? clientFor(session) : null), [session]);
  if (!session || !client) {
    return <SignIn onSignIn={setSession} />;
  }
  const staff = isStaff(session);
  const links: [string, string][] = staff
    ? [
        ["/panel", "Bills"],
        ["/parked", "Parked events"],
        ["/analytics", "Analytics"],
      ]
    : session.role === "driver"
      ? [["/drive", "Drive"]]
      : [
          ["/search", "Search"],
          ["/ride", "Ride"],
          ["/reservations", "My reservations"],
          ["/bills", "My bills"],
        ];
  const current = links.some(([p]) => p === route) ? route : links[0][0];
  let page;
  switch (current) {
    case "/panel":
      page = <Panel client={client} />;
      break;
    case "/parked":
      page = <DeadLetters client={client} />;
      break;
    case "/search":
      page = <Search client={client} session={session} />;
      break;
    case "/analytics":
      page = <Analytics client={client} />;
      break;
    case "/ride":
      page = <Ride client={client} session={session} />;
      break;
    case "/drive":
      page = <Drive client={client} session={session} />;
      break;
    case "/reservations":
      page = <Reservations client={client} session={session} />;
      break;
    default:
      page = <Bills client={client} session={session} />;
  }
  return (
    <>
      <nav class="top">
        <strong class="brand">Waybill</strong>
        {links.map(([p, name]) => (
          <a key={p} href={`#${p}`} aria-current={p === current ? "page" : undefined}>
            {name}
          </a>
        ))}
        <span class="who" data-testid="who">
          {session.subject} ({session.role})
        </span>
        <button
          class="link"
          onClick={() => {
            clearSession();
            setSession(null);
          }}
        >
          Sign out
        </button>
      </nav>
      <main>{page}</main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
