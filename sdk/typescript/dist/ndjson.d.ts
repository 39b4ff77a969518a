/**
 * readStream yields the messages of one newline-delimited JSON stream as the gateway sends
 * server streams: one `{"result": …}` line per message, and at most one last
 * `{"error": …}` line, which is thrown as an ApiError. The stream ends when the body ends.
 */
export declare function readStream<T>(body: ReadableStream<Uint8Array>): AsyncGenerator<T, void, undefined>;
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
export declare function retryable(err: unknown): boolean;
/**
 * resumeStream yields the messages of a stream that carries cursors, reopening it after
 * the last cursor seen whenever it breaks or ends (a gateway or service restart), so the
 * caller sees every message once and in order. Errors that reopening cannot fix (see
 * retryable) are thrown; for WatchBills an OUT_OF_RANGE error means the cursor is older
 * than the retained change log and the caller must start again with a snapshot.
 */
export declare function resumeStream<T>(opts: ResumeOptions<T>): AsyncGenerator<T, void, undefined>;
