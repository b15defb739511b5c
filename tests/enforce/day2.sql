-- Day 2 (run by tests/enforce/run.sh after enforce.sql): objects created before enforcement,
-- then every kind of lookup of their functions in new sessions, under warn and on, with the
-- preview before each switch. enf_day2 is one library copied into three images: good (pinned,
-- verified), loose (never pinned) and drifty (pinned, verified, then changed).
\set VERBOSITY default
\set SHOW_CONTEXT never
\set ON_ERROR_STOP 0
SET client_min_messages = warning;
-- Under off, as a site's objects were before it adopted pgext.
\set s good
\set lib '$libdir/enf_d2_good'
\set op '==='
\set typ int4
\set tag 'CREATE SEQUENCE'
\ir day2/objects.sql
\set s loose
\set lib '$libdir/enf_d2_loose'
\set op '=#='
\set typ int8
\set tag 'CREATE SCHEMA'
\ir day2/objects.sql
\set s drift
\set lib '$libdir/enf_d2_drift'
\set op '=@='
\set typ int2
\set tag 'CREATE COLLATION'
\ir day2/objects.sql
-- Tries a function's lookup and says what happened: its arguments are NULLs the planner cannot
-- fold away (a strict function of constant NULLs is never looked up at all).
CREATE FUNCTION d2_try(f regprocedure) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  args text;
BEGIN
  -- No bigint anywhere (no ORDINALITY, no sort): the planner consults every operator family of a
  -- type it compares or sorts, and the loose copy's access method serves int8 (see objects.sql).
  SELECT string_agg(format('(SELECT NULL::%s)', a.t::regtype), ', ') INTO args
    FROM pg_proc p, unnest(p.proargtypes::oid[]) AS a(t) WHERE p.oid = f;
  EXECUTE format('SELECT %s(%s)', f::oid::regproc, coalesce(args, ''));
  RETURN 'ran';
EXCEPTION WHEN insufficient_privilege THEN
  RETURN CASE WHEN SQLERRM LIKE 'pgext.enforce: %'
              THEN 'refused: ' || coalesce(substring(SQLERRM from '/([^/"]+)" \(loaded by'), SQLERRM)
              ELSE SQLERRM END;
END $$;
CREATE VIEW d2_callable AS
  SELECT p.oid::regprocedure AS f FROM pg_proc p
   WHERE p.proname LIKE 'd2\_%' AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')
     AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype, 'language_handler'::regtype,
                              'index_am_handler'::regtype);
RESET client_min_messages;

-- The preview before switching: what on would refuse, and why.
SELECT kind, object, extension, replace(library, :'fx', '@FX@') AS library, image, decision, failed
  FROM pgext.enforcement_preview ORDER BY kind, image, object;
-- The path and the time are replaced here, not by run.sh's sed, so the column's width is the same
-- whatever the fixture directory's length or the timestamp's digits.
SELECT DISTINCT image, failed,
       regexp_replace(replace(detail, :'fx', '@FX@'), '[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.+-]+', '<time>', 'g') AS detail
  FROM pgext.enforcement_preview
 WHERE kind = 'function' AND decision = 'refused' ORDER BY image;

-- warn: in a new session every lookup runs, with one WARNING per library.
ALTER DATABASE enf SET pgext.enforce = warn;
\c
SHOW pgext.enforce;
SELECT d2_hello_loose();
SELECT '7'::d2_loose;
SELECT d2_sum_loose(g) FROM generate_series(1, 3) g;
SELECT d2_hello_drift();
SELECT d2_hello_drift();

-- on: new sessions.
ALTER DATABASE enf SET pgext.enforce = on;
-- The pinned and verified image: every kind of lookup runs (and its _PG_init says it was opened).
\c
\set s good
\set op '==='
\set typ int4
\set ddl 'CREATE SEQUENCE d2_seq'
\ir day2/calls.sql
-- The unpinned image: every kind of lookup is refused, and the library is never opened.
\c
\set s loose
\set op '=#='
\set typ int8
\set ddl 'CREATE SCHEMA d2_schema'
\ir day2/calls.sql
-- The drifted image: refused too.
\c
\set s drift
\set op '=@='
\set typ int2
\set ddl 'CREATE COLLATION d2_coll FROM "C"'
\ir day2/calls.sql

-- The preview agrees with the hook: in a new session, every callable function the preview
-- refuses is refused, and every other one runs.
\c
SET client_min_messages = warning;
CREATE TEMP TABLE d2_agree AS
  SELECT p.object, p.decision FROM pgext.enforcement_preview p JOIN d2_callable c ON c.f = p.object::regprocedure
   WHERE p.kind = 'function';
ALTER TABLE d2_agree ADD COLUMN call text;
UPDATE d2_agree SET call = d2_try(object::regprocedure);
SELECT object, decision, call FROM d2_agree ORDER BY object;
SELECT count(*) AS functions, count(*) FILTER (WHERE (decision = 'refused') <> (call LIKE 'refused%')) AS disagreements
  FROM d2_agree;
RESET client_min_messages;
-- A library of the server image ($libdir) is never judged: plpgsql's handler and pgext's own
-- functions ran above without a decision.
SELECT count(*) AS server_image_decisions FROM pgext.enforcement_log
 WHERE action = 'function_load' AND image = '';

-- A failure of pgext itself inside the hook: under on the lookup fails with pgext's error
-- (closed); under warn it runs with a WARNING (open); the backend lives on. An exemption no
-- other session has keeps this backend from reusing the decision other backends shared.
\c
BEGIN;
SET LOCAL pgext.enforce_exempt = 'image:d2_no_such_image';
ALTER TABLE pgext.image_checks RENAME TO image_checks_moved;
SELECT d2_hello_good();
ROLLBACK;
BEGIN;
SET LOCAL pgext.enforce = warn;
SET LOCAL pgext.enforce_exempt = 'image:d2_no_such_image';
ALTER TABLE pgext.image_checks RENAME TO image_checks_moved;
SELECT d2_hello_good();
ROLLBACK;
SELECT 'backend alive' AS still;

-- An allowed lookup is remembered per function in this session; it is judged again when the
-- function or the policy changes. A function replaced (under off, as a DBA could) to load
-- another image's library is refused at its next lookup, in the same session; put back, it runs.
\c
SELECT d2_hello_good();
SET pgext.enforce = off;
CREATE OR REPLACE FUNCTION d2_hello_good() RETURNS text AS '$libdir/enf_d2_drift', 'd2_hello' LANGUAGE C STRICT;
RESET pgext.enforce;
SELECT d2_hello_good();
SET pgext.enforce = off;
CREATE OR REPLACE FUNCTION d2_hello_good() RETURNS text AS '$libdir/enf_d2_good', 'd2_hello' LANGUAGE C STRICT;
RESET pgext.enforce;
SELECT d2_hello_good();
-- A condition added for this session only (SET, then a function's SET clause) refuses what was
-- allowed a statement before: the good image is not signed.
SET pgext.require = 'pinned,verified,compatible,signed';
SELECT d2_hello_good();
RESET pgext.require;
SELECT d2_hello_good();
CREATE FUNCTION d2_strict_call() RETURNS text LANGUAGE sql
  SET pgext.require = 'pinned,verified,compatible,signed' AS 'SELECT d2_hello_good()';
SELECT d2_strict_call();
SELECT d2_hello_good();
DROP FUNCTION d2_strict_call();

-- Pinning the loose image and verifying it changes the decision at once, in this session too.
SELECT d2_hello_loose();
SELECT pgext.pin_image('loose', :'loose_ref');
SELECT status FROM pgext.verify_image('loose');
SELECT kind, object, decision FROM pgext.enforcement_preview WHERE image = 'loose' ORDER BY object LIMIT 3;
SELECT d2_hello_loose();

-- New sessions reuse the allowed decision other backends shared; a committed unpin makes it
-- stale at once (the trigger bumps the shared counter at commit), whoever wrote the table.
\c
SELECT d2_hello_loose();
\c
SELECT d2_hello_loose();
DELETE FROM pgext.pins WHERE name = 'loose' RETURNING name;
\c
SELECT d2_hello_loose();
SELECT pgext.pin_image('loose', :'loose_ref');
\c
SELECT d2_hello_loose();

-- Decisions of function loads, for DBAs and monitoring.
SELECT action, image, outcome, failed, count(*) FROM pgext.enforcement_log
 WHERE action = 'function_load' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
ALTER DATABASE enf RESET pgext.enforce;
