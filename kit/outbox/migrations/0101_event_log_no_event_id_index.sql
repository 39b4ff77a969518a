-- The sequenced log's event ids are not indexed: nothing looks an event up by its id in
-- the log (consumers deduplicate by their own cursor; notification keys its queue on the
-- id in its own schema), ids come from gen_random_uuid(), and the unique index cost the
-- sequencer a random-order B-tree insert per event, a quarter of its time per event
-- (docs/benchmarks.md, "S3: the sequencer's second write").
ALTER TABLE event_log DROP CONSTRAINT event_log_event_id_key;
