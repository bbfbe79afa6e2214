-- Where a first list flush's time goes: what the list tables' indexes cost to insert into.
--
-- A lab, not a product path: 240k (stream, condition) rows (100k streams: `*`, `incorrect`,
-- 30% `problematic`, 10% `disabled`, as bench.list_flush and the worker benchmark's final
-- flush write) inserted in (uid, condition) order, as the flush inserts them, into tables
-- shaped like stream_list and stream_list_facts (migration 0016: same columns, indexes,
-- collations, fillfactor), and into variants of them:
--
--   lt / ft   the shipped shape: condition and uid as text COLLATE "C"
--   ls / fs   condition as smallint (a registry would map names to numbers)
--   li / fi   condition as smallint and the stream as a bigint key instead of its uid text
--   f1        ft without its two trigram (GIN) indexes
--   f2        ft without its six (condition, column, uid) sort indexes
--
-- Run on the local stack, then time each INSERT of the `runs` part several times, in both
-- orders (results and their reading: bench/RESULTS.md, 2026-12-07 16:00-16:25):
--
--   bash deploy/local/postgres.sh psql -d postgres -f bench/list_index_cost.sql
--   bash deploy/local/postgres.sh psql -d lab_list_index_cost -c '\timing on' \
--     -c "TRUNCATE lt, ft; INSERT INTO lt SELECT ..."   (see the `runs` part below)

DROP DATABASE IF EXISTS lab_list_index_cost;
CREATE DATABASE lab_list_index_cost;
\c lab_list_index_cost
CREATE EXTENSION pg_trgm;
CREATE EXTENSION btree_gin;

CREATE TABLE src AS
SELECT md5(i::text)::uuid::text COLLATE "C" AS uid,
       ('x' || substr(md5(i::text), 1, 15))::bit(60)::bigint AS sid,
       c AS cname, ci::smallint AS cid,
       (i % 97)::int AS disconnections, i::bigint AS attempt, (i * 7)::bigint AS total,
       (i * 13)::bigint AS rms
FROM generate_series(1, 100000) AS i,
     LATERAL (VALUES ('*', 1), ('incorrect', 2), ('problematic', 3), ('disabled', 4)) AS v(c, ci)
WHERE ci <= 2 OR (ci = 3 AND i % 10 < 3) OR (ci = 4 AND i % 10 = 9);
VACUUM ANALYZE src;

-- stream_list's shape, and its variants.
CREATE TABLE lt (condition text COLLATE "C" NOT NULL, uid text COLLATE "C" NOT NULL,
                 a bigint, t bigint, ms bigint, d int NOT NULL, PRIMARY KEY (uid, condition));
CREATE INDEX ON lt (condition, d, uid);
CREATE INDEX ON lt (condition, a, uid);
CREATE INDEX ON lt (condition, ms, uid);
CREATE INDEX ON lt (condition, t, uid);
CREATE TABLE ls (LIKE lt INCLUDING ALL);
ALTER TABLE ls ALTER condition TYPE smallint USING 0;
CREATE TABLE li (condition smallint NOT NULL, sid bigint NOT NULL,
                 a bigint, t bigint, ms bigint, d int NOT NULL, PRIMARY KEY (sid, condition));
CREATE INDEX ON li (condition, d, sid);
CREATE INDEX ON li (condition, a, sid);
CREATE INDEX ON li (condition, ms, sid);
CREATE INDEX ON li (condition, t, sid);

-- stream_list_facts' shape, and its variants.
CREATE TABLE ft (condition text COLLATE "C" NOT NULL, uid text COLLATE "C" NOT NULL,
                 s_id bigint, cam bigint, br bigint, orate bigint,
                 ca timestamptz, ua timestamptz, search text NOT NULL, ip text NOT NULL,
                 domain text, d int NOT NULL, PRIMARY KEY (uid, condition))
    WITH (fillfactor = 50);
CREATE INDEX ft_s_id ON ft (condition, s_id, uid);
CREATE INDEX ft_cam ON ft (condition, cam, uid);
CREATE INDEX ft_br ON ft (condition, br, uid);
CREATE INDEX ft_orate ON ft (condition, orate, uid);
CREATE INDEX ft_ca ON ft (condition, ca, uid);
CREATE INDEX ft_ua ON ft (condition, ua, uid);
CREATE INDEX ft_domain ON ft (condition, domain);
CREATE INDEX ft_ip ON ft USING gin (condition, translate(ip, '.:', 'xy') gin_trgm_ops);
CREATE INDEX ft_search ON ft USING gin (condition, search gin_trgm_ops);
CREATE TABLE fs (LIKE ft INCLUDING ALL);
ALTER TABLE fs ALTER condition TYPE smallint USING 0;
CREATE TABLE fi (LIKE fs INCLUDING ALL);
ALTER TABLE fi DROP CONSTRAINT fi_pkey;
ALTER TABLE fi ALTER uid TYPE bigint USING 0;
ALTER TABLE fi ADD PRIMARY KEY (uid, condition);
CREATE TABLE f1 (LIKE ft INCLUDING ALL);
DROP INDEX f1_condition_translate_idx, f1_condition_search_idx;
CREATE TABLE f2 (LIKE ft INCLUDING ALL);
DROP INDEX f2_condition_s_id_uid_idx, f2_condition_cam_uid_idx, f2_condition_br_uid_idx,
    f2_condition_orate_uid_idx, f2_condition_ca_uid_idx, f2_condition_ua_uid_idx;

-- runs (each after TRUNCATE of its table and a CHECKPOINT):
-- INSERT INTO lt SELECT cname, uid, attempt, total, rms, disconnections FROM src ORDER BY uid, cname;
-- INSERT INTO ls SELECT cid, uid, attempt, total, rms, disconnections FROM src ORDER BY uid, cid;
-- INSERT INTO li SELECT cid, sid, attempt, total, rms, disconnections FROM src ORDER BY sid, cid;
-- INSERT INTO ft SELECT cname, uid, attempt, attempt, total, rms, now(), now(), '', '', NULL,
--     disconnections FROM src ORDER BY uid, cname;   (fs, f1, f2 alike; fs with cid, fi with
--     cid and sid, ORDER BY their keys)
