-- 7 (PostgreSQL twin of ../0007_event_columns.sql): the System Log stream's
-- normalized event columns, read from each event's raw JSONB. PostgreSQL before 18
-- has only STORED generated columns: adding them computes them for existing rows
-- once, and each insert computes them. A member that is missing, JSON null, or of
-- another type than the column's reads NULL (as SQLite's json_extract gives NULL for
-- a missing member; numbers and booleans are checked so an odd event never fails an
-- insert). debug_data is JSONB, which `kri query` shows as compact JSON text, as
-- SQLite shows its json_extract of an object.
ALTER TABLE events
    ADD COLUMN display_message TEXT
        GENERATED ALWAYS AS (raw #>> '{displayMessage}') STORED,
    ADD COLUMN severity TEXT
        GENERATED ALWAYS AS (raw #>> '{severity}') STORED,
    ADD COLUMN outcome_result TEXT
        GENERATED ALWAYS AS (raw #>> '{outcome,result}') STORED,
    ADD COLUMN outcome_reason TEXT
        GENERATED ALWAYS AS (raw #>> '{outcome,reason}') STORED,
    ADD COLUMN actor_id TEXT
        GENERATED ALWAYS AS (raw #>> '{actor,id}') STORED,
    ADD COLUMN actor_alternate_id TEXT
        GENERATED ALWAYS AS (raw #>> '{actor,alternateId}') STORED,
    ADD COLUMN actor_type TEXT
        GENERATED ALWAYS AS (raw #>> '{actor,type}') STORED,
    ADD COLUMN client_ip TEXT
        GENERATED ALWAYS AS (raw #>> '{client,ipAddress}') STORED,
    ADD COLUMN geo_city TEXT
        GENERATED ALWAYS AS (raw #>> '{client,geographicalContext,city}') STORED,
    ADD COLUMN geo_country TEXT
        GENERATED ALWAYS AS (raw #>> '{client,geographicalContext,country}') STORED,
    ADD COLUMN geo_lat DOUBLE PRECISION
        GENERATED ALWAYS AS (CASE
            WHEN jsonb_typeof(raw #> '{client,geographicalContext,geolocation,lat}') = 'number'
            THEN (raw #>> '{client,geographicalContext,geolocation,lat}')::DOUBLE PRECISION
        END) STORED,
    ADD COLUMN geo_lon DOUBLE PRECISION
        GENERATED ALWAYS AS (CASE
            WHEN jsonb_typeof(raw #> '{client,geographicalContext,geolocation,lon}') = 'number'
            THEN (raw #>> '{client,geographicalContext,geolocation,lon}')::DOUBLE PRECISION
        END) STORED,
    ADD COLUMN asn BIGINT
        GENERATED ALWAYS AS (CASE
            WHEN (raw #>> '{securityContext,asNumber}') ~ '^-?[0-9]{1,18}$'
                AND jsonb_typeof(raw #> '{securityContext,asNumber}') = 'number'
            THEN (raw #>> '{securityContext,asNumber}')::BIGINT
        END) STORED,
    ADD COLUMN is_proxy INTEGER
        GENERATED ALWAYS AS (CASE raw #> '{securityContext,isProxy}'
            WHEN 'true'::JSONB THEN 1
            WHEN 'false'::JSONB THEN 0
        END) STORED,
    ADD COLUMN external_session_id TEXT
        GENERATED ALWAYS AS (raw #>> '{authenticationContext,externalSessionId}') STORED,
    ADD COLUMN root_session_id TEXT
        GENERATED ALWAYS AS (raw #>> '{authenticationContext,rootSessionId}') STORED,
    ADD COLUMN user_agent TEXT
        GENERATED ALWAYS AS (raw #>> '{client,userAgent,rawUserAgent}') STORED,
    -- debugContext.debugData (factor, dtHash, behaviors, changeDetails,
    -- privilegeGranted, network, threatDetections: what the detections read).
    ADD COLUMN debug_data JSONB
        GENERATED ALWAYS AS (NULLIF(raw #> '{debugContext,debugData}', 'null'::JSONB)) STORED;
CREATE INDEX events_by_type ON events(tenant_id, event_type, published);
CREATE INDEX events_by_actor ON events(tenant_id, actor_id);
