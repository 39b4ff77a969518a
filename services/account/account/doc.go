// Package account is the account service's domain: customers' accounts (profile, contacts
// with their verification state, notification preferences, the owner-enforced status
// ACTIVE / SUSPENDED / DELETED and a free-form sub-status), the one-time codes that verify
// contacts, who may see and change what, and the Store interface the service needs. It
// imports no gRPC, no pgx and no generated code.
//
// # Privacy
//
// A customer acts only on the account whose id is their token subject; another account
// looks missing (NotFound), never forbidden, so ids cannot be probed. Lists mask contact
// addresses (Mask). Deletion erases the profile, contacts, preferences and codes, keeps a
// tombstone (id, status, suspension, times) and emits an event saying so.
//
// # Verification codes
//
// A code is 6 random digits, stored only as an HMAC-SHA256 under the service's secret
// (Options.CodeSecret) with the code's id, and handed to the notification service in the
// account.verification_code.issued event. A code expires (Options.CodeTTL), is used up by
// a success, and is refused after Options.MaxAttempts attempts; every attempt is counted,
// in a transaction of its own, before the code is compared, so parallel guesses cannot
// outrun the limit. New codes for one contact are issued at most once per
// Options.ResendInterval and Options.MaxCodesPerHour times an hour: at most
// MaxAttempts × MaxCodesPerHour guesses an hour (25 by default) against 10^6 codes.
//
// Errors are kit/errs errors; the account service declares only its reasons
// (reasons.go). Event types are declared in events.go.
package account
