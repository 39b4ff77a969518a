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
};
/**
 * ApiError is an error answer of the gateway (or a stream's last `{"error": …}` line):
 * the gRPC code, the message, the ErrorInfo reason and the fields a BadRequest named.
 */
export class ApiError extends Error {
    /** The gRPC status code (see Codes). */
    code;
    /** The HTTP status, or 0 for an error sent inside a stream. */
    httpStatus;
    /** The ErrorInfo reason (for example "BILL_NOT_OPEN"), or "". */
    reason;
    /** The fields a BadRequest detail named. */
    fieldViolations;
    /** The status as the gateway sent it. */
    status;
    constructor(status, httpStatus) {
        super(status.message || `request failed with code ${status.code ?? "?"}`);
        this.name = "ApiError";
        this.status = status;
        this.code = status.code ?? Codes.UNKNOWN;
        this.httpStatus = httpStatus;
        let reason = "";
        const fields = [];
        for (const d of (status.details ?? [])) {
            const type = String(d["@type"] ?? "");
            if (type.endsWith("google.rpc.ErrorInfo") && typeof d.reason === "string") {
                reason = d.reason;
            }
            if (type.endsWith("google.rpc.BadRequest") && Array.isArray(d.fieldViolations)) {
                for (const v of d.fieldViolations) {
                    fields.push({ field: String(v.field ?? ""), description: String(v.description ?? "") });
                }
            }
        }
        this.reason = reason;
        this.fieldViolations = fields;
    }
    /** describe returns the message followed by the fields it names, for showing to a person. */
    describe() {
        if (this.fieldViolations.length === 0) {
            return this.message;
        }
        return `${this.message} (${this.fieldViolations.map((v) => `${v.field}: ${v.description}`).join("; ")})`;
    }
}
/** toApiError turns an error body of any shape into an ApiError. */
export function toApiError(body, httpStatus) {
    // A stream refused before its first message answers its status as a stream's last line would.
    if (body && typeof body === "object" && "error" in body && !("code" in body)) {
        body = body.error;
    }
    if (body && typeof body === "object" && ("code" in body || "message" in body)) {
        return new ApiError(body, httpStatus);
    }
    const message = typeof body === "string" && body !== "" ? body : `HTTP ${httpStatus}`;
    return new ApiError({ code: httpStatus >= 500 ? Codes.UNAVAILABLE : Codes.UNKNOWN, message }, httpStatus);
}
