import { ApiError, Codes, toApiError } from "./errors.js";

/**
 * readStream yields the messages of one newline-delimited JSON stream as the gateway sends
 * server streams: one `{"result": …}` line per message, and at most one last
 * `{"error": …}` line, which is thrown as an ApiError. The stream ends when the body ends.
 */
export async function* readStream<T>(body: ReadableStream<Uint8Array>): AsyncGenerator<T, void, undefined> {
  const reader = body.pipeThrough(new TextDecoderStream() as unknown as ReadableWritablePair<string, Uint8Array>).getReader();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        break;
      }
      buf += value;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = parseLine<T>(line);
        if (m !== undefined) {
          yield m;
        }
      }
    }
    const m = parseLine<T>(buf);
    if (m !== undefined) {
      yield m;
    }
  } finally {
    // Stops the download when the consumer stops early (break, return or a throw).
    await reader.cancel().catch(() => {});
  }
}

function parseLine<T>(line: string): T | undefined {
  if (line.trim() === "") {
    return undefined;
  }
  const msg = JSON.parse(line) as { result?: T; error?: unknown };
  if (msg.error !== undefined) {
    throw toApiError(msg.error, 0);
  }
  return msg.result;
}

/** Backoff paces reconnecting: the first wait is initialMs, each next one doubles up to maxMs. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** ResumeOptions configures resumeStream. */
export interface ResumeOptions<T> {
  /**
   * open starts the stream after cursor (undefined: the first connection) and returns its
   * body; it throws an ApiError for an error answer.
   */
  open(cursor: string | undefined, signal: AbortSignal | undefined): Promise<ReadableStream<Uint8Array>>;
  /** cursorOf returns the cursor a message carries, if any. */
  cursorOf(message: T): string | undefined;
  /** cursor resumes a stream after this cursor from the first connection on. */
  cursor?: string;
  /** signal stops the stream: the iterator then ends without an error. */
  signal?: AbortSignal;
  /** backoff paces reconnecting (default 250 ms doubling to 5 s). */
  backoff?: Backoff;
  /**
   * maxAttempts is how many reconnects in a row may fail before the last error is thrown
   * (default: no limit). A connection that delivers a message resets the count.
   */
  maxAttempts?: number;
  /**
   * finished says whether a stream that ended cleanly after message last has ended for
   * good (for example WatchTrip after a trip's final state); then the iterator ends
   * instead of reopening it. Default: never (a clean end is a server going away).
   */
  finished?(last: T | undefined): boolean;
  /** onReconnect is told of every reconnect, with the cursor it resumes from and why. */
  onReconnect?(cursor: string | undefined, attempt: number, cause: unknown): void;
}

/**
 * retryable says whether a broken stream is worth reopening: network failures, a stream
 * that ended, and the codes that say "try again" (UNAVAILABLE, DEADLINE_EXCEEDED,
 * RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNKNOWN). Errors about the request itself
 * (INVALID_ARGUMENT, OUT_OF_RANGE, PERMISSION_DENIED, UNAUTHENTICATED, NOT_FOUND, …) are not.
 */
export function retryable(err: unknown): boolean {
  if (!(err instanceof ApiError)) {
    return !(err instanceof SyntaxError); // a network failure, not a malformed line
  }
  const again: number[] = [Codes.UNAVAILABLE, Codes.DEADLINE_EXCEEDED, Codes.RESOURCE_EXHAUSTED, Codes.ABORTED, Codes.INTERNAL, Codes.UNKNOWN];
  return again.includes(err.code);
}

/**
 * resumeStream yields the messages of a stream that carries cursors, reopening it after
 * the last cursor seen whenever it breaks or ends (a gateway or service restart), so the
 * caller sees every message once and in order. Errors that reopening cannot fix (see
 * retryable) are thrown; for WatchBills an OUT_OF_RANGE error means the cursor is older
 * than the retained change log and the caller must start again with a snapshot.
 */
export async function* resumeStream<T>(opts: ResumeOptions<T>): AsyncGenerator<T, void, undefined> {
  const backoff = opts.backoff ?? { initialMs: 250, maxMs: 5000 };
  let cursor = opts.cursor;
  let attempt = 0;
  for (;;) {
    if (opts.signal?.aborted) {
      return;
    }
    let cause: unknown = new Error("the stream ended");
    let last: T | undefined;
    try {
      const body = await opts.open(cursor, opts.signal);
      for await (const m of readStream<T>(body)) {
        attempt = 0;
        last = m;
        const c = opts.cursorOf(m);
        if (c) {
          cursor = c;
        }
        yield m;
        if (opts.signal?.aborted) {
          return;
        }
      }
      if (opts.finished?.(last)) {
        return;
      }
    } catch (err) {
      if (opts.signal?.aborted) {
        return;
      }
      if (!retryable(err)) {
        throw err;
      }
      cause = err;
    }
    attempt++;
    if (opts.maxAttempts !== undefined && attempt > opts.maxAttempts) {
      throw cause;
    }
    opts.onReconnect?.(cursor, attempt, cause);
    const wait = Math.min(backoff.maxMs, backoff.initialMs * 2 ** (attempt - 1));
    await sleep(wait, opts.signal);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
