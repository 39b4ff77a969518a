#!/usr/bin/env bash
# Walks a reservation from inventory to a bill through the REST gateway of a running mesh
# (`make run` in another terminal): a rate card, a flight, a hold priced by fare, a
# confirmation, a bill with the seat as its item, payment through billing's saga, the
# operator panel and the event log. Needs curl and jq.
#
# Environment:
#   GW       the gateway's base URL (default http://127.0.0.1:8080, where `waybill up`
#            serves it; with --port-offset N add N to the port)
#   WAYBILL  the waybill binary that mints the tokens (default bin/waybill); it must sign
#            with the mesh's --auth-secret (both default to the development secret)
#
# cmd/waybill's TestUpRunsTheMesh runs this script against a fresh mesh.
set -euo pipefail
GW=${GW:-http://127.0.0.1:8080}
WAYBILL=${WAYBILL:-bin/waybill}
OPS=$($WAYBILL token --subject ops-1 --role operator)
CUST=$($WAYBILL token --subject c-42 --role customer)
call() { # call TOKEN METHOD PATH [BODY]
  curl -sS --fail-with-body -X "$2" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' "$GW$3" ${4:+-d "$4"}
}
dep_time=$(date -u -d '+3 days' +%Y-%m-%dT%H:00:00Z)
arr_time=$(date -u -d '+3 days 8 hours' +%Y-%m-%dT%H:00:00Z)

echo "1. operator: a rate card for LH FRA→JFK economy at 100.00 EUR a seat"
call "$OPS" POST /v1/rateCards '{"rateCard":{"productKey":{"seat":{"carrier":"LH","origin":"FRA","destination":"JFK","fareClass":"economy"}},"currencyCode":"EUR","inventory":{"unitPrice":{"amountMinor":"10000","currencyCode":"EUR"}}},"requestId":"demo-card-1"}' | jq -c '.rateCard | {id, version}'

echo "2. operator: flight LH 400 with 10 economy seats"
DEP=$(call "$OPS" POST /v1/departures '{"departure":{"mode":"TRANSPORT_MODE_FLIGHT","carrier":"LH","number":"400","origin":"FRA","destination":"JFK","departureTime":"'"$dep_time"'","arrivalTime":"'"$arr_time"'","originTimeZone":"Europe/Berlin","fareClasses":[{"name":"economy","capacity":10}]},"requestId":"demo-dep-1"}' | jq -r .departure.id)
echo "   departure $DEP"

echo "3. customer c-42: hold 2 seats (priced by fare, expires in 15 minutes)"
RES=$(call "$CUST" POST /v1/reservations '{"reservation":{"seat":{"departureId":"'"$DEP"'","fareClass":"economy"},"quantity":2,"travelers":[{"fullName":"Ada Lovelace"},{"fullName":"Charles Babbage"}]},"requestId":"demo-hold-1"}')
RID=$(jq -r .reservation.id <<<"$RES")
jq -c '.reservation | {id, status, price, rateVersion, holdExpireTime}' <<<"$RES"

echo "4. customer: confirm"
call "$CUST" POST "/v1/reservations/$RID:confirm" '{"requestId":"demo-confirm-1"}' | jq -c '.reservation | {id, status}'

echo "5. customer: open a bill and add the seats"
BILL=$(call "$CUST" POST /v1/bills '{"customerId":"c-42","currencyCode":"EUR","requestId":"demo-bill-1"}' | jq -r .bill.id)
call "$CUST" POST "/v1/bills/$BILL/items" '{"kind":"KIND_FLIGHT","reservationId":"'"$RID"'","requestId":"demo-item-1"}' | jq -c '.bill | {id, status, items: [.items[] | {kind, reservationId, mainStatus, amount}]}'

echo "6. customer: finalize"
call "$CUST" POST "/v1/bills/$BILL:finalize" '{"requestId":"demo-final-1"}' | jq -c '.bill | {id, status, totals}'

echo "7. customer: pay (billing's saga: authorize with payment, confirm with booking, capture)"
PM=$(call "$CUST" POST /v1/paymentMethods '{"customerId":"c-42","card":{"number":"4242424242424242","expiryMonth":12,"expiryYear":2040,"cvc":"123"},"requestId":"demo-pm-1"}' | jq -r .paymentMethod.id)
call "$CUST" POST "/v1/bills/$BILL:pay" '{"paymentMethodId":"'"$PM"'","requestId":"demo-pay-1"}' >/dev/null
for _ in $(seq 50); do
  status=$(call "$CUST" GET "/v1/bills/$BILL" | jq -r .bill.status)
  [[ $status == BILL_STATUS_PAID ]] && break
  sleep 0.1
done
echo "   bill $BILL: $status"

echo "8. operator panel: bills with their items' full details (one batched call per provider)"
# A bill without items has no "items" in its JSON (proto3 omits empty lists).
call "$OPS" GET "/v1/bills?view=VIEW_FULL&pageSize=10" | jq -c '.bills[]? | {id, status, items: [.items[]? | {title: .details.title, mainStatus, freshness}]}'

echo "9. the booking event log, as newline-delimited JSON (first 3 events)"
# The stream never ends: head stops reading after three lines and curl then dies of
# SIGPIPE, which is how this step ends, not a failure.
{ curl -sS -N -H "Authorization: Bearer $OPS" "$GW/v1/events/booking:subscribe?payloadMode=PAYLOAD_MODE_KEYS_ONLY" 2>/dev/null || true; } |
  head -n 3 | jq -c '.result | {type: .event.type, key: .event.key, seq: .event.sequence, cursor}'
