-- The same hold sent statement by statement, without pipelines: one round trip each.
\set n random(1, 16)
SELECT id AS dep, name AS fc FROM exp.deps WHERE n = :n \gset
BEGIN;
SELECT status, departure_time FROM exp.departure WHERE id = :dep FOR SHARE;
INSERT INTO exp.reservation (id, customer_id, request_id, kind, departure_id, fare_class, property_id, room_type, check_in_date, check_out_date, guest_count, quantity, travelers, price_minor, currency, rate_card_id, rate_version, quote_id, hold_expire_time, status, sub_status, policy, service_start, service_end, history, create_time, update_time, version) VALUES (gen_random_uuid(), 'cust-' || :n, md5(random()::text), 1, :dep, :fc, NULL, NULL, NULL, NULL, NULL, 1, '{"A B"}', 12345, 'EUR', 'rc-1', 1, 'q-1', now() + interval '15 minutes', 1, '', '{"rules":[]}', now() + interval '2 days', now() + interval '2 days 3 hours', '[{"status":1}]', now(), now(), 1);
UPDATE exp.fare_class SET held = held + 1 WHERE departure_id = :dep AND name = :fc AND held + sold + 1 <= capacity;
INSERT INTO exp.outbox (type, key, payload_type, payload, trace_context) VALUES ('booking.reservation.held', 'k', 'waybill.booking.v1.ReservationEvent', '\x0a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f'::bytea, NULL);
COMMIT;
