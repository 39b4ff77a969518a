package paymentgrpc

import (
	"fmt"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// encodeReply returns the bytes stored with an idempotency key for a first response: a
// google.protobuf.Any holding the response message, or, when the call failed, the
// google.rpc.Status the caller got. A retry decodes them with decodeReply and gets the same
// message, or the same status with the same details, byte for byte.
func encodeReply(resp proto.Message, callErr error) ([]byte, error) {
	msg := resp
	if callErr != nil {
		msg = status.Convert(toStatus(callErr)).Proto()
	}
	a, err := anypb.New(msg)
	if err != nil {
		return nil, fmt.Errorf("wrap response: %w", err)
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(a)
}

// decodeReply reads stored bytes into resp, or returns the stored error status.
func decodeReply(b []byte, resp proto.Message) error {
	var a anypb.Any
	if err := proto.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("read stored response: %w", err)
	}
	if a.MessageIs(&spb.Status{}) {
		var st spb.Status
		if err := a.UnmarshalTo(&st); err != nil {
			return fmt.Errorf("read stored status: %w", err)
		}
		return status.ErrorProto(&st)
	}
	if err := a.UnmarshalTo(resp); err != nil {
		return fmt.Errorf("read stored response: %w", err)
	}
	return nil
}
