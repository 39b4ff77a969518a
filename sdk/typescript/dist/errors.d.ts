import type { components } from "./schema.js";
/** Status is the body of every error answer: a google.rpc.Status. */
export type Status = components["schemas"]["rpc.Status"];
/** FieldViolation names a request field that was refused and says why. */
export interface FieldViolation {
    field: string;
    description: string;
}
/** Codes holds the gRPC status codes the gateway answers with, by name. */
export declare const Codes: {
    readonly OK: 0;
    readonly CANCELLED: 1;
    readonly UNKNOWN: 2;
    readonly INVALID_ARGUMENT: 3;
    readonly DEADLINE_EXCEEDED: 4;
    readonly NOT_FOUND: 5;
    readonly ALREADY_EXISTS: 6;
    readonly PERMISSION_DENIED: 7;
    readonly RESOURCE_EXHAUSTED: 8;
    readonly FAILED_PRECONDITION: 9;
    readonly ABORTED: 10;
    readonly OUT_OF_RANGE: 11;
    readonly UNIMPLEMENTED: 12;
    readonly INTERNAL: 13;
    readonly UNAVAILABLE: 14;
    readonly DATA_LOSS: 15;
    readonly UNAUTHENTICATED: 16;
};
/**
 * ApiError is an error answer of the gateway (or a stream's last `{"error": …}` line):
 * the gRPC code, the message, the ErrorInfo reason and the fields a BadRequest named.
 */
export declare class ApiError extends Error {
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
    constructor(status: Status, httpStatus: number);
    /** describe returns the message followed by the fields it names, for showing to a person. */
    describe(): string;
}
/** toApiError turns an error body of any shape into an ApiError. */
export declare function toApiError(body: unknown, httpStatus: number): ApiError;
