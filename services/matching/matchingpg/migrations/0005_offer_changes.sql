-- WatchDriverOffers learns of other replicas' offer changes with one query per poll for
-- all drivers (matching.Service.RunOfferWatch), by update time.
CREATE INDEX offer_changes ON offer (update_time);
