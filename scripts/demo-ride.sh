#!/usr/bin/env bash
# Walks a ride through the REST gateway of a running mesh (`make run` in another terminal):
# a ride rate card, a driver online, a rider's request (standing checked by billing, priced
# by fare, a match started in matching), the offer on the driver's offer stream, the
# driver's accept, start, route and end, the rider's trip stream until the final fare (fare
# prices the ride from the recorded route), the ride on the rider's bill, the rider refused
# while the fare is unpaid, and admitted again after paying. Needs curl and jq.
#
# Environment:
#   GW       the gateway's base URL (default http://127.0.0.1:8080, where `waybill up`
#            serves it; with --port-offset N add N to the port)
#   WAYBILL  the waybill binary that mints the tokens (default bin/waybill); it must sign
#            with the mesh's --auth-secret (both default to the development secret)
#
# Every run uses a rider, a driver and request ids of its own, so it can run again on the
# same mesh. cmd/waybill's TestRideThroughREST runs this script against a fresh mesh.
set -euo pipefail
GW=${GW:-http://127.0.0.1:8080}
WAYBILL=${WAYBILL:-bin/waybill}
RUN=${RUN:-$(date +%s%N | tail -c 9)}
RIDER=rider-$RUN
OPS=$($WAYBILL token --subject ops-1 --role operator)
CUST=$($WAYBILL token --subject "$RIDER" --role customer)
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
call() { # call TOKEN METHOD PATH [BODY]
  curl -sS --fail-with-body -X "$2" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' "$GW$3" ${4:+-d "$4"}
}
status() { # status TOKEN METHOD PATH [BODY]: prints the HTTP status only
  curl -sS -o /dev/null -w '%{http_code}' -X "$2" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' "$GW$3" ${4:+-d "$4"}
}
now() { date -u -d "${1:-now}" +%Y-%m-%dT%H:%M:%S.%3NZ; }
ALEX='{"latitude":52.5219,"longitude":13.4132}'
POTSDAMER='{"latitude":52.5096,"longitude":13.3759}'

echo "1. operator: a ride rate card for standard rides in berlin (3.00 EUR + 1.50 EUR/km + 0.30 EUR/min, at least 8.00 EUR)"
card='{"rateCard":{"productKey":{"ride":{"city":"berlin","product":"standard"}},"currencyCode":"EUR","ride":{"baseFare":{"amountMinor":"300","currencyCode":"EUR"},"perKilometer":{"amountMinor":"150","currencyCode":"EUR"},"perMinute":{"amountMinor":"30","currencyCode":"EUR"},"minimumFare":{"amountMinor":"800","currencyCode":"EUR"}},"dynamicPricing":{"minMultiplierBps":10000,"maxMultiplierBps":30000}},"requestId":"demo-ride-card"}'
code=$(status "$OPS" POST /v1/rateCards "$card")
echo "   HTTP $code (409: the mesh prices standard rides in berlin already)"

echo "2. operator: a driver; the driver goes online at Alexanderplatz"
DRIVER=$(call "$OPS" POST /v1/drivers '{"name":"Dana Demo","city":"berlin","vehicle":{"plate":"B-RD '"$RUN"'","model":"Toyota Prius","products":["standard"]}}' | jq -r .driver.id)
DRV=$($WAYBILL token --subject "$DRIVER" --role driver)
call "$DRV" POST "/v1/drivers/$DRIVER:setAvailability" '{"online":true}' | jq -c '.driver | {id, status}'
call "$DRV" POST "/v1/drivers/$DRIVER:updateLocation" '{"location":{"point":'"$ALEX"',"fixTime":"'"$(now)"'"}}' | jq -c '{accepted}'

echo "3. driver's app: follow the offer stream (NDJSON)"
curl -sS -N -H "Authorization: Bearer $DRV" "$GW/v1/drivers/$DRIVER/offers:watch" >"$TMP/offers" &

echo "4. rider $RIDER: request a ride from Alexanderplatz to Potsdamer Platz"
TRIP=$(call "$CUST" POST /v1/trips '{"customerId":"'"$RIDER"'","pickup":'"$ALEX"',"dropoff":'"$POTSDAMER"',"product":"standard","city":"berlin","requestId":"demo-ride-'"$RUN"'"}')
TID=$(jq -r .trip.id <<<"$TRIP")
jq -c '.trip | {id, status, estimate, quoteId, matchId}' <<<"$TRIP"

echo "5. driver: the offer arrives on the stream; accept it"
OFFER=""
for _ in $(seq 100); do
  OFFER=$(jq -r 'select(.result.offer.status == "OFFER_STATUS_PENDING" and .result.offer.tripId == "'"$TID"'") | .result.offer.id' "$TMP/offers" 2>/dev/null | head -1)
  [[ -n $OFFER ]] && break
  sleep 0.1
done
[[ -n $OFFER ]] || { echo "no offer on the driver's stream"; exit 1; }
call "$DRV" POST "/v1/offers/$OFFER:accept" '{"requestId":"demo-accept-'"$RUN"'"}' | jq -c '.offer | {id, status, etaSeconds}'

echo "6. rider: the trip has its driver"
for _ in $(seq 100); do
  st=$(call "$CUST" GET "/v1/trips/$TID" | jq -r .trip.status)
  [[ $st == TRIP_STATUS_DRIVER_ASSIGNED ]] && break
  sleep 0.1
done
call "$CUST" GET "/v1/trips/$TID" | jq -c '.trip | {status, driverId, assignTime}'

echo "7. rider's page: follow the trip (NDJSON, ends once the final fare is set)"
timeout 60 curl -sS -N -H "Authorization: Bearer $CUST" "$GW/v1/trips/$TID:watch" >"$TMP/watch" &
WATCH=$!

echo "8. driver: start at the pickup, report the route, end at Potsdamer Platz"
call "$DRV" POST "/v1/trips/$TID:start" '{"location":'"$ALEX"',"requestId":"demo-start-'"$RUN"'"}' | jq -c '.trip | {status, startTime}'
sleep 1.1
call "$DRV" POST "/v1/trips/$TID:recordLocation" '{"points":[
  {"point":{"latitude":52.5175,"longitude":13.4050},"time":"'"$(now '-0.6 seconds')"'"},
  {"point":{"latitude":52.5145,"longitude":13.3930},"time":"'"$(now '-0.3 seconds')"'"},
  {"point":'"$POTSDAMER"',"time":"'"$(now)"'"}]}' | jq -c '{acceptedCount, ignoredCount}'
call "$DRV" POST "/v1/trips/$TID:end" '{"dropoff":'"$POTSDAMER"',"requestId":"demo-end-'"$RUN"'"}' | jq -c '.trip | {status, distanceMeters, durationSeconds, finalFare}'

echo "9. rider's stream: every state until the final fare"
wait $WATCH || true
jq -c '.result | if .heartbeat then "heartbeat" else {status: .trip.status, finalFare: .trip.finalFare} end' "$TMP/watch"

echo "10. fare: the final fare, computed from the recorded route, with its breakdown"
call "$CUST" GET "/v1/fares/$TID" | jq -c '.fare | {total, distanceMeters, durationSeconds, surgeMultiplierBps, lines: [.lines[] | {code, amount: .amount.amountMinor}]}'

echo "11. billing: the ride is on the rider's bill, unpaid, so a new request is refused"
BILL=""
for _ in $(seq 100); do
  BILL=$(call "$CUST" GET "/v1/bills?customerId=$RIDER" | jq -r '[.bills[]? | select(.status == "BILL_STATUS_FINALIZED")][0].id // empty')
  [[ -n $BILL ]] && break
  sleep 0.1
done
[[ -n $BILL ]] || { echo "the ride is on no finalized bill"; exit 1; }
call "$CUST" GET "/v1/bills/$BILL" | jq -c '.bill | {id, status, totals, items: [.items[] | {kind, reservationId, mainStatus}]}'
call "$CUST" GET "/v1/customers/$RIDER/standing" | jq -c '.standing | {standing, reasonCode}'
again='{"customerId":"'"$RIDER"'","pickup":'"$POTSDAMER"',"dropoff":'"$ALEX"',"product":"standard","city":"berlin","requestId":"demo-ride-again-'"$RUN"'"}'
echo "   POST /v1/trips: HTTP $(status "$CUST" POST /v1/trips "$again") (400: FAILED_PRECONDITION, CUSTOMER_NOT_IN_GOOD_STANDING)"

echo "12. rider: add a card and pay the bill (billing's saga with payment; billing may start"
echo "    collecting with the rider's default card by itself, then the explicit pay is refused as BILL_NOT_PAYABLE)"
PM=$(call "$CUST" POST /v1/paymentMethods '{"customerId":"'"$RIDER"'","card":{"number":"4242424242424242","expiryMonth":12,"expiryYear":2040,"cvc":"123"},"requestId":"demo-ride-pm-'"$RUN"'"}' | jq -r .paymentMethod.id)
echo "   POST :pay: HTTP $(status "$CUST" POST "/v1/bills/$BILL:pay" '{"paymentMethodId":"'"$PM"'","requestId":"demo-ride-pay-'"$RUN"'"}')"
for _ in $(seq 100); do
  st=$(call "$CUST" GET "/v1/bills/$BILL" | jq -r .bill.status)
  [[ $st == BILL_STATUS_PAID || $st == BILL_STATUS_SETTLED ]] && break
  sleep 0.1
done
echo "   bill $BILL: $st"
call "$CUST" GET "/v1/customers/$RIDER/standing" | jq -c '.standing | {standing}'

echo "13. rider: admitted again"
call "$CUST" POST /v1/trips "$again" | jq -c '.trip | {id, status}'
NEXT=$(call "$CUST" GET "/v1/trips?status=TRIP_STATUS_REQUESTED" | jq -r '.trips[0].id')
call "$CUST" POST "/v1/trips/$NEXT:cancel" '{"reason":"demo_over","requestId":"demo-cancel-'"$RUN"'"}' | jq -c '.trip | {id, status, cancellation: .cancellation.actor}'
echo "done: trip $TID"
