-- 7: the System Log stream's normalized event columns, read from each event's raw
-- JSON (Okta's System Log shape, the only audit stream today). They are VIRTUAL
-- generated columns: computed on read, so existing rows have them at once and an
-- insert writes nothing more than before; a raw event without a member reads NULL.
ALTER TABLE events ADD COLUMN display_message TEXT
    GENERATED ALWAYS AS (json_extract(raw, '$.displayMessage')) VIRTUAL;
ALTER TABLE events ADD COLUMN severity TEXT
    GENERATED ALWAYS AS (json_extract(raw, '$.severity')) VIRTUAL;
ALTER TABLE events ADD COLUMN outcome_result TEXT
    GENERATED ALWAYS AS (json_extract(raw, '$.outcome.result')) VIRTUAL;
ALTER TABLE events ADD COLUMN outcome_reason TEXT
    GENERATED ALWAYS AS (json_extract(raw, '$.outcome.reason')) VIRTUAL;
ALTER TABLE events ADD COLUMN actor_id TEXT
    GENERATED ALWAYS AS (json_extract(raw, '$.actor.id')) VIRTUAL;
ALTER TABLE events ADD COLUMN actor_alternate_id TEXT
    GENERATED ALWAYS AS (json_extract(raw, '$.actor.alternateId')) VIRTUAL;
ALTER TABLE events ADD COLUMN actor_type TEXT
    GENERATED ALWAYS AS (json_extract(raw, '$.actor.type')) VIRTUAL;
ALTER TABLE events ADD COLUMN client_ip TEXT
    GENERATED ALWAYS AS (json_extract(raw, '$.client.ipAddress')) VIRTUAL;
ALTER TABLE events ADD COLUMN geo_city TEXT
    GENERATED ALWAYS AS (json_extract(raw, '$.client.geographicalContext.city')) VIRTUAL;
ALTER TABLE events ADD COLUMN geo_country TEXT
    GENERATED ALWAYS AS (json_extract(raw, '$.client.geographicalContext.country')) VIRTUAL;
ALTER TABLE events ADD COLUMN geo_lat REAL
    GENERATED ALWAYS AS (json_extract(raw, '$.client.geographicalContext.geolocation.lat')) VIRTUAL;
ALTER TABLE events ADD COLUMN geo_lon REAL
    GENERATED ALWAYS AS (json_extract(raw, '$.client.geographicalContext.geolocation.lon')) VIRTUAL;
ALTER TABLE events ADD COLUMN asn INTEGER
    GENERATED ALWAYS AS (json_extract(raw, '$.securityContext.asNumber')) VIRTUAL;
ALTER TABLE events ADD COLUMN is_proxy INTEGER
    GENERATED ALWAYS AS (json_extract(raw, '$.securityContext.isProxy')) VIRTUAL;
ALTER TABLE events ADD COLUMN external_session_id TEXT
    GENERATED ALWAYS AS (json_extract(raw, '$.authenticationContext.externalSessionId')) VIRTUAL;
ALTER TABLE events ADD COLUMN root_session_id TEXT
    GENERATED ALWAYS AS (json_extract(raw, '$.authenticationContext.rootSessionId')) VIRTUAL;
ALTER TABLE events ADD COLUMN user_agent TEXT
    GENERATED ALWAYS AS (json_extract(raw, '$.client.userAgent.rawUserAgent')) VIRTUAL;
-- debugContext.debugData as JSON text (factor, dtHash, behaviors, changeDetails,
-- privilegeGranted, network, threatDetections: what the detections read).
ALTER TABLE events ADD COLUMN debug_data TEXT
    GENERATED ALWAYS AS (json_extract(raw, '$.debugContext.debugData')) VIRTUAL;
CREATE INDEX events_by_type ON events(tenant_id, event_type, published);
CREATE INDEX events_by_actor ON events(tenant_id, actor_id);
