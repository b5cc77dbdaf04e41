CREATE TABLE events (event_id bigint PRIMARY KEY, happened_at timestamptz);
SELECT event_id FROM events LIMIT 100 OFFSET 200;
SELECT event_id FROM events ORDER BY happened_at LIMIT 100 OFFSET 200;
