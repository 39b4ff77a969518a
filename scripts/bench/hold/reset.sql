-- Before each run: empty fare classes (capacity 10,000 each) and no reservations.
UPDATE exp.fare_class SET capacity = 10000, held = 0, sold = 0;
TRUNCATE exp.reservation, exp.outbox;
CHECKPOINT;
