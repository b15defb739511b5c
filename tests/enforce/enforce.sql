-- pgext.enforce transcript (run by tests/enforce/run.sh; images described there).
\set VERBOSITY default
\set SHOW_CONTEXT never
\set ON_ERROR_STOP 0
-- Settings: only superusers change them.
SHOW pgext.enforce;
SHOW pgext.require;
SET pgext.require = 'Signed , pinned';
SHOW pgext.require;
RESET pgext.require;
SET pgext.require = 'pinned,tested';
SET pgext.enforce_exempt = 'schema:x';
SELECT mode, require, hook_installed, problem FROM pgext.enforcement_status;

-- off: nothing is judged.
CREATE EXTENSION enf_loose;
DROP EXTENSION enf_loose;

-- on
SET pgext.enforce = on;
-- A pinned and verified image: its C extension (install path 1.0 -> 1.1) is allowed.
CREATE EXTENSION pgext_fixture;
SELECT pgext_fixture_hello(), pgext_fixture_add(2, 3);
-- An unpinned image.
CREATE EXTENSION enf_loose;
\echo :LAST_ERROR_SQLSTATE
-- requires chains: within the verified image, allowed; into the unpinned one, refused.
CREATE EXTENSION enf_chain_ok CASCADE;
CREATE EXTENSION enf_chain_out CASCADE;
\echo :LAST_ERROR_SQLSTATE
-- Without CASCADE the server refuses by itself, before any script runs.
CREATE EXTENSION enf_chain_out;
-- A drifted image.
CREATE EXTENSION enf_drift;
\echo :LAST_ERROR_SQLSTATE
-- An incompatible image (pinned and verified, no magic block).
CREATE EXTENSION no_magic;
\echo :LAST_ERROR_SQLSTATE
-- Only what the policy asks for is checked.
SET pgext.require = 'pinned,verified';
BEGIN;
CREATE EXTENSION no_magic;
ROLLBACK;
SET pgext.require = 'compatible';
BEGIN;
CREATE EXTENSION enf_drift;
ROLLBACK;
RESET pgext.require;
-- An update path that LOADs a library from the unpinned image.
CREATE EXTENSION enf_upd VERSION '1.0';
ALTER EXTENSION enf_upd UPDATE TO '1.1';
\echo :LAST_ERROR_SQLSTATE
-- LOAD and C functions.
LOAD 'enf_looselib';
\echo :LAST_ERROR_SQLSTATE
LOAD 'pgext_fixture';
LOAD 'plpgsql';
\set looselib :fx '/extensions/loose/lib/enf_looselib'
CREATE FUNCTION enf_hello() RETURNS text AS :'looselib', 'pgext_fixture_hello' LANGUAGE C;
\echo :LAST_ERROR_SQLSTATE
CREATE FUNCTION enf_hello() RETURNS text AS '$libdir/pgext_fixture', 'pgext_fixture_hello' LANGUAGE C;
SELECT enf_hello();
-- Exemptions: by extension, by image.
SET pgext.enforce_exempt = 'extension:enf_loose';
CREATE EXTENSION enf_loose;
DROP EXTENSION enf_loose;
SET pgext.enforce_exempt = 'image:loose';
LOAD 'enf_looselib';
RESET pgext.enforce_exempt;

-- warn: reported, allowed.
SET pgext.enforce = warn;
CREATE EXTENSION enf_drift;
ALTER EXTENSION enf_upd UPDATE TO '1.1';
SELECT extname, extversion FROM pg_extension WHERE extname IN ('enf_drift', 'enf_upd') ORDER BY 1;
-- A failure of pgext itself never breaks a statement under warn; under on, it refuses.
BEGIN;
ALTER TABLE pgext.image_checks RENAME TO image_checks_moved;
CREATE EXTENSION enf_trusted_ok;
DROP EXTENSION enf_trusted_ok;
SET LOCAL pgext.enforce = on;
CREATE EXTENSION enf_trusted_ok;
ROLLBACK;

-- A non-superuser with CREATE on the database, installing trusted extensions, under on (set in
-- the role's configuration: the role cannot change it).
ALTER ROLE enf_user SET pgext.enforce = on;
\c - enf_user
SHOW pgext.enforce;
SET pgext.enforce = off;
\echo :LAST_ERROR_SQLSTATE
CREATE EXTENSION enf_loose;
\echo :LAST_ERROR_SQLSTATE
CREATE EXTENSION enf_trusted_ok;
\c - postgres
ALTER ROLE enf_user RESET pgext.enforce;

-- A database without pgext: the worker's published status decides, as of its last cycle.
SELECT pgext.check_now(true);
\c enf2 postgres
SET pgext.enforce = on;
CREATE EXTENSION pgext_fixture;
CREATE EXTENSION enf_drift;
\echo :LAST_ERROR_SQLSTATE
CREATE EXTENSION enf_loose;
\c enf postgres

-- Every decision, for DBAs and monitoring.
SELECT seq, database, role, action, replace(object, :'fx', '@FX@') AS object, image, outcome, failed
  FROM pgext.enforcement_log ORDER BY seq;
SELECT mode, hook_installed, allowed, warned, refused, exempted FROM pgext.enforcement_status;
SELECT detail LIKE 'The mount of image "drifty" changed since it was verified against oci:%: 1 modified, 1 unexpected, e.g. %' AS drift_evidence
  FROM pgext.enforcement_log WHERE image = 'drifty' ORDER BY seq LIMIT 1;
