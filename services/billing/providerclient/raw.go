package providerclient

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
)

// Billing passes each reservation's details through to its own callers as the bytes the
// provider sent: a panel page of 360 items would otherwise decode and re-encode every
// provider's details (a large share of billing's CPU per page in the profiles that
// led to this; the figure was not recorded). So billing reads
// GetReservationDetails replies as an empty message, which keeps every field undecoded
// in its unknown fields, and splits the results out of those bytes with protowire: each
// result's id and status, and its details still encoded.

// Field numbers of GetReservationDetailsResponse and ReservationResult, from the
// generated descriptors.
var (
	resultsField  = fieldNumber(&reservationv1.GetReservationDetailsResponse{}, "results")
	resultIDField = fieldNumber(&reservationv1.ReservationResult{}, "id")
	statusField   = fieldNumber(&reservationv1.ReservationResult{}, "status")
	detailsField  = fieldNumber(&reservationv1.ReservationResult{}, "details")
	versionField  = fieldNumber(&reservationv1.ReservationDetails{}, "version")
)

func fieldNumber(m proto.Message, name protoreflect.Name) protowire.Number {
	return m.ProtoReflect().Descriptor().Fields().ByName(name).Number()
}

// rawResult is one ReservationResult with its details still encoded.
type rawResult struct {
	id      string
	status  reservationv1.ReservationResult_Status
	details []byte
}

// splitResults splits an encoded GetReservationDetailsResponse into its results. Unknown
// fields are skipped, as a decoder would.
func splitResults(b []byte) ([]rawResult, error) {
	var out []rawResult
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != resultsField || typ != protowire.BytesType {
			return nil
		}
		r, err := splitResult(v)
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// splitResult reads one encoded ReservationResult; the last occurrence of a field wins.
func splitResult(b []byte) (rawResult, error) {
	var r rawResult
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == resultIDField && typ == protowire.BytesType:
			r.id = string(v)
		case num == statusField && typ == protowire.VarintType:
			r.status = reservationv1.ReservationResult_Status(int32(x))
		case num == detailsField && typ == protowire.BytesType:
			r.details = v
		}
		return nil
	})
	return r, err
}

// detailsVersion returns the version field of encoded ReservationDetails (the last
// occurrence wins, as in a decoder); 0 when it is missing or the bytes are malformed.
// It reads only the top-level fields' tags, not the details' contents.
func detailsVersion(b []byte) int64 {
	var v int64
	if err := eachField(b, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
		if num == versionField && typ == protowire.VarintType {
			v = int64(x)
		}
		return nil
	}); err != nil {
		return 0
	}
	return v
}

// eachField calls fn with every field of the encoded message b: a length-delimited
// field's bytes as v, a varint's value as x (other types get neither).
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return malformed(n)
		}
		b = b[n:]
		var (
			v []byte
			x uint64
		)
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return malformed(n)
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

var errMalformed = errors.New("provider sent a malformed reply")

func malformed(n int) error { return fmt.Errorf("%w: %v", errMalformed, protowire.ParseError(n)) }
