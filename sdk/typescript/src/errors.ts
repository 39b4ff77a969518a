import type { components } from "./schema.js";

/** Status is the body of every error answer: a google.rpc.Status. */
export type Status = components["schemas"]["rpc.Status"];

/** FieldViolation names a request field that was refused and says why. */
export interface FieldViolation {
  field: string;
  description: string;
}

/** Codes holds the gRPC status codes the gateway answers with, by name. */
export const Codes = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/**
 * ApiError is an error answer of the gateway (or a stream's last `{"error": …}` line):
 * the gRPC code, the message, the ErrorInfo reason and the fields a BadRequest named.
 */
export class ApiError extends Error {
  /** The gRPC status code (see Codes). */
  readonly code: number;
  /** The HTTP status, or 0 for an error sent inside a stream. */
  readonly httpStatus: number;
  /** The ErrorInfo reason (for example "BILL_NOT_OPEN"), or "". */
  readonly reason: string;
  /** The fields a BadRequest detail named. */
  readonly fieldViolations: FieldViolation[];
  /** The status as the gateway sent it. */
  readonly status: Status;

  constructor(status: Status, httpStatus: number) {
    super(status.message || `request failed with code ${status.code ?? "?"}`);
    this.name = "ApiError";
    this.status = status;
    this.code = status.code ?? Codes.UNKNOWN;
    this.httpStatus = httpStatus;
    let reason = "";
    const fields: FieldViolation[] = [];
    for (const d of (status.details ?? []) as Array<Record<string, unknown>>) {
      const type = String(d["@type"] ?? "");
      if (type.endsWith("google.rpc.ErrorInfo") && typeof d.reason === "string") {
        reason = d.reason;
      }
      if (type.endsWith("google.rpc.BadRequest") && Array.isArray(d.fieldViolations)) {
        for (const v of d.fieldViolations as Array<Record<string, unknown>>) {
          fields.push({ field: String(v.field ?? ""), description: String(v.description ?? "") });
        }
      }
    }
    this.reason = reason;
    this.fieldViolations = fields;
  }

  /** describe returns the message followed by the fields it names, for showing to a person. */
  describe(): string {
    if (this.fieldViolations.length === 0) {
      return this.message;
    }
    return `${this.message} (${this.fieldViolations.map((v) => `${v.field}: ${v.description}`).join("; ")})`;
  }
}

/** toApiError turns an error body of any shape into an ApiError. */
export function toApiError(body: unknown, httpStatus: number): ApiError {
  // A stream refused before its first message answers its status as a stream's last line would.
  if (body && typeof body === "object" && "error" in body && !("code" in body)) {
    body = (body as { error: unknown }).error;
  }
  if (body && typeof body === "object" && ("code" in body || "message" in body)) {
    return new ApiError(body as Status, httpStatus);
  }
  const message = typeof body === "string" && body !== "" ? body : `HTTP ${httpStatus}`;
  return new ApiError({ code: httpStatus >= 500 ? Codes.UNAVAILABLE : Codes.UNKNOWN, message }, httpStatus);
}
