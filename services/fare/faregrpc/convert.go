package faregrpc

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	farev1 "github.com/waybill/waybill/gen/waybill/fare/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/fare/fare"
)

// This file is the only place generated types meet domain types.

func kindFromProto(k farev1.ProductKind) (fare.ProductKind, bool) {
	switch k {
	case farev1.ProductKind_PRODUCT_KIND_UNSPECIFIED:
		return fare.KindUnspecified, true
	case farev1.ProductKind_PRODUCT_KIND_SEAT:
		return fare.KindSeat, true
	case farev1.ProductKind_PRODUCT_KIND_STAY:
		return fare.KindStay, true
	case farev1.ProductKind_PRODUCT_KIND_RIDE:
		return fare.KindRide, true
	}
	return 0, false
}

// keyFromProto converts a product key; a missing key or variant converts to a key of
// KindUnspecified, which the domain's validation names.
func keyFromProto(k *farev1.ProductKey) fare.ProductKey {
	switch p := k.GetProduct().(type) {
	case *farev1.ProductKey_Seat:
		s := p.Seat
		return fare.ProductKey{Kind: fare.KindSeat, Seat: fare.SeatProduct{
			Carrier: s.GetCarrier(), Origin: s.GetOrigin(), Destination: s.GetDestination(),
			FareClass: s.GetFareClass(), DepartureID: s.GetDepartureId(),
		}}
	case *farev1.ProductKey_Stay:
		return fare.ProductKey{Kind: fare.KindStay, Stay: fare.StayProduct{PropertyID: p.Stay.GetPropertyId(), RoomType: p.Stay.GetRoomType()}}
	case *farev1.ProductKey_Ride:
		return fare.ProductKey{Kind: fare.KindRide, Ride: fare.RideProduct{City: p.Ride.GetCity(), Product: p.Ride.GetProduct()}}
	}
	return fare.ProductKey{}
}

func keyToProto(k fare.ProductKey) *farev1.ProductKey {
	switch k.Kind {
	case fare.KindSeat:
		s := k.Seat
		return &farev1.ProductKey{Product: &farev1.ProductKey_Seat{Seat: &farev1.SeatProduct{
			Carrier: s.Carrier, Origin: s.Origin, Destination: s.Destination, FareClass: s.FareClass, DepartureId: s.DepartureID,
		}}}
	case fare.KindStay:
		return &farev1.ProductKey{Product: &farev1.ProductKey_Stay{Stay: &farev1.StayProduct{PropertyId: k.Stay.PropertyID, RoomType: k.Stay.RoomType}}}
	case fare.KindRide:
		return &farev1.ProductKey{Product: &farev1.ProductKey_Ride{Ride: &farev1.RideProduct{City: k.Ride.City, Product: k.Ride.Product}}}
	}
	return nil
}

// moneyFromProto converts an amount; nil converts to zero in the card's currency (the
// fields are required, and the caller checks presence where it matters).
func moneyFromProto(m *typev1.Money) money.Money {
	return money.New(m.GetAmountMinor(), m.GetCurrencyCode())
}

func moneyToProto(amount int64, currency string) *typev1.Money {
	return &typev1.Money{AmountMinor: amount, CurrencyCode: currency}
}

func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// rateCardFromProto converts a rate card from a request; field is its path ("rate_card"),
// used in errors about missing required amounts and malformed timestamps.
func rateCardFromProto(field string, c *farev1.RateCard) (fare.RateCard, error) {
	out := fare.RateCard{
		ID:          c.GetId(),
		Key:         keyFromProto(c.GetProductKey()),
		Currency:    c.GetCurrencyCode(),
		Description: c.GetDescription(),
		Version:     c.GetVersion(),
	}
	switch p := c.GetPricing().(type) {
	case *farev1.RateCard_Inventory:
		if p.Inventory.GetUnitPrice() == nil {
			return fare.RateCard{}, errs.Invalid(field+".inventory.unit_price", "is required")
		}
		out.Inventory = &fare.InventoryPricing{UnitPrice: moneyFromProto(p.Inventory.GetUnitPrice())}
	case *farev1.RateCard_Ride:
		r := p.Ride
		for _, m := range []struct {
			name string
			m    *typev1.Money
		}{{"base_fare", r.GetBaseFare()}, {"per_kilometer", r.GetPerKilometer()}, {"per_minute", r.GetPerMinute()}, {"minimum_fare", r.GetMinimumFare()}} {
			if m.m == nil {
				return fare.RateCard{}, errs.Invalid(field+".ride."+m.name, "is required")
			}
		}
		out.Ride = &fare.RidePricing{
			BaseFare: moneyFromProto(r.GetBaseFare()), PerKilometer: moneyFromProto(r.GetPerKilometer()),
			PerMinute: moneyFromProto(r.GetPerMinute()), MinimumFare: moneyFromProto(r.GetMinimumFare()),
		}
	}
	if d := c.GetDynamicPricing(); d != nil {
		dp := &fare.DynamicPricing{MinMultiplierBps: d.GetMinMultiplierBps(), MaxMultiplierBps: d.GetMaxMultiplierBps()}
		for _, t := range d.GetLoadFactorTiers() {
			dp.Tiers = append(dp.Tiers, fare.LoadFactorTier{ThresholdBps: t.GetThresholdBps(), MultiplierBps: t.GetMultiplierBps()})
		}
		out.Dynamic = dp
	}
	if t := c.GetEffectiveTime(); t != nil {
		if err := t.CheckValid(); err != nil {
			return fare.RateCard{}, errs.Invalid(field+".effective_time", "is not a valid timestamp")
		}
		out.EffectiveTime = t.AsTime()
	}
	return out, nil
}

func rateCardToProto(c fare.RateCard) *farev1.RateCard {
	out := &farev1.RateCard{
		Id:            c.ID,
		ProductKey:    keyToProto(c.Key),
		CurrencyCode:  c.Currency,
		EffectiveTime: timeToProto(c.EffectiveTime),
		Description:   c.Description,
		Author:        c.Author,
		CreateTime:    timeToProto(c.CreateTime),
		UpdateTime:    timeToProto(c.UpdateTime),
		Version:       c.Version,
	}
	if p := c.Inventory; p != nil {
		out.Pricing = &farev1.RateCard_Inventory{Inventory: &farev1.InventoryPricing{UnitPrice: moneyToProto(p.UnitPrice.Amount, c.Currency)}}
	}
	if r := c.Ride; r != nil {
		out.Pricing = &farev1.RateCard_Ride{Ride: &farev1.RidePricing{
			BaseFare:     moneyToProto(r.BaseFare.Amount, c.Currency),
			PerKilometer: moneyToProto(r.PerKilometer.Amount, c.Currency),
			PerMinute:    moneyToProto(r.PerMinute.Amount, c.Currency),
			MinimumFare:  moneyToProto(r.MinimumFare.Amount, c.Currency),
		}}
	}
	if d := c.Dynamic; d != nil {
		dp := &farev1.DynamicPricing{MinMultiplierBps: d.MinMultiplierBps, MaxMultiplierBps: d.MaxMultiplierBps}
		for _, t := range d.Tiers {
			dp.LoadFactorTiers = append(dp.LoadFactorTiers, &farev1.LoadFactorTier{ThresholdBps: t.ThresholdBps, MultiplierBps: t.MultiplierBps})
		}
		out.DynamicPricing = dp
	}
	return out
}

func rateCardsToProto(cs []fare.RateCard) []*farev1.RateCard {
	out := make([]*farev1.RateCard, len(cs))
	for i, c := range cs {
		out[i] = rateCardToProto(c)
	}
	return out
}

// RateCardEvent returns the payload of the fare.rate_card.updated event announcing
// version c, for the store (farepg.Options.RateCardEvent).
func RateCardEvent(c fare.RateCard) proto.Message {
	return &farev1.RateCardEvent{RateCard: rateCardToProto(c)}
}

func dateFromProto(d *typev1.Date) *fare.Date {
	if d == nil {
		return nil
	}
	return &fare.Date{Year: int(d.GetYear()), Month: int(d.GetMonth()), Day: int(d.GetDay())}
}

func inventoryQuoteFromProto(r *farev1.QuoteInventoryRequest) fare.InventoryQuoteInput {
	in := fare.InventoryQuoteInput{
		Key:      keyFromProto(r.GetProductKey()),
		Quantity: r.GetQuantity(),
		CheckIn:  dateFromProto(r.GetCheckInDate()),
		CheckOut: dateFromProto(r.GetCheckOutDate()),
	}
	switch l := r.GetLoad().(type) {
	case *farev1.QuoteInventoryRequest_LoadFactorBps:
		v := l.LoadFactorBps
		in.LoadFactorBps = &v
	case *farev1.QuoteInventoryRequest_Occupancy:
		// A set oneof with a nil message is the zero occupancy, whose capacity fails.
		in.Occupancy = &fare.Occupancy{Used: l.Occupancy.GetUsed(), Capacity: l.Occupancy.GetCapacity()}
	}
	return in
}

func quoteToProto(q fare.Quote) *farev1.Quote {
	out := &farev1.Quote{
		Id:              q.ID,
		ProductKey:      keyToProto(q.Key),
		RateCardId:      q.RateCardID,
		RateVersion:     q.RateVersion,
		Quantity:        q.Quantity,
		Nights:          q.Nights,
		Price:           moneyToProto(q.Price, q.Currency),
		MultiplierBps:   q.MultiplierBps,
		LoadFactorBps:   q.LoadFactorBps,
		SurgeZone:       q.SurgeZone,
		DistanceMeters:  q.DistanceMeters,
		DurationSeconds: q.DurationSeconds,
		CreateTime:      timeToProto(q.CreateTime),
		ValidUntil:      timeToProto(q.ValidUntil),
		SurgeExpireTime: timeToProto(q.SurgeExpire),
	}
	if q.HasUnitPrice {
		out.UnitPrice = moneyToProto(q.UnitPrice, q.Currency)
	}
	for _, l := range q.Lines {
		out.Lines = append(out.Lines, &farev1.PriceLine{Code: l.Code, Description: l.Description, Amount: moneyToProto(l.Amount, q.Currency)})
	}
	return out
}

func pointFromProto(p *typev1.GeoPoint) *fare.GeoPoint {
	if p == nil {
		return nil
	}
	return &fare.GeoPoint{Latitude: p.GetLatitude(), Longitude: p.GetLongitude()}
}

func pointToProto(p *fare.GeoPoint) *typev1.GeoPoint {
	if p == nil {
		return nil
	}
	return &typev1.GeoPoint{Latitude: p.Latitude, Longitude: p.Longitude}
}

func rideQuoteFromProto(r *farev1.QuoteRideRequest) fare.RideQuoteInput {
	return fare.RideQuoteInput{
		City:            r.GetCity(),
		Product:         r.GetProduct(),
		Pickup:          pointFromProto(r.GetPickup()),
		Dropoff:         pointFromProto(r.GetDropoff()),
		DistanceMeters:  r.GetEstimatedDistanceMeters(),
		DurationSeconds: r.GetEstimatedDurationSeconds(),
	}
}

// surgeFromProto converts a surge from a request (field "surge").
func surgeFromProto(s *farev1.Surge) (fare.Surge, error) {
	out := fare.Surge{
		City:          s.GetCity(),
		Zone:          s.GetZone(),
		MultiplierBps: s.GetMultiplierBps(),
		Center:        pointFromProto(s.GetCenter()),
		RadiusMeters:  s.GetRadiusMeters(),
		Reason:        s.GetReason(),
		Version:       s.GetVersion(),
	}
	if t := s.GetExpireTime(); t != nil {
		if err := t.CheckValid(); err != nil {
			return fare.Surge{}, errs.Invalid("surge.expire_time", "is not a valid timestamp")
		}
		out.ExpireTime = t.AsTime()
	}
	return out, nil
}

func surgeToProto(s fare.Surge) *farev1.Surge {
	return &farev1.Surge{
		City:          s.City,
		Zone:          s.Zone,
		MultiplierBps: s.MultiplierBps,
		Center:        pointToProto(s.Center),
		RadiusMeters:  s.RadiusMeters,
		ExpireTime:    timeToProto(s.ExpireTime),
		Reason:        s.Reason,
		Actor:         s.Actor,
		CreateTime:    timeToProto(s.CreateTime),
		UpdateTime:    timeToProto(s.UpdateTime),
		Version:       s.Version,
	}
}
