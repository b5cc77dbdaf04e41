CREATE TABLE events (event_id bigint PRIMARY KEY, happened_at timestamptz);
SELECT event_id FROM events ORDER BY happened_at, event_id LIMIT 100 OFFSET 200;
