CREATE TABLE pgext.check_runs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at timestamptz NOT NULL,
    duration interval NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('ok', 'problems', 'error')),
    images int NOT NULL,
    verified int NOT NULL,
    drift int NOT NULL,
    unreachable int NOT NULL,
    errors int NOT NULL,
    incompatible int NOT NULL,
    findings int NOT NULL
);
CREATE INDEX check_runs_started_at ON pgext.check_runs (started_at);
COMMENT ON TABLE pgext.check_runs IS
  'One row per check cycle of the pgext worker on the primary, kept for pgext.history_retention';

CREATE TABLE pgext.findings (
    run_id bigint NOT NULL REFERENCES pgext.check_runs (id) ON DELETE CASCADE,
    image text,
    extension text,
    code text NOT NULL,
    severity text NOT NULL CHECK (severity IN ('error', 'warning')),
    message text NOT NULL
);
CREATE INDEX findings_run_id ON pgext.findings (run_id);
COMMENT ON TABLE pgext.findings IS 'What each check cycle found (errors and warnings), by image and extension';

CREATE VIEW pgext.worker_status AS SELECT * FROM pgext.worker_status();
COMMENT ON VIEW pgext.worker_status IS 'The pgext background worker and its last check cycle (shared memory)';
CREATE VIEW pgext.image_status AS SELECT * FROM pgext.image_status();
COMMENT ON VIEW pgext.image_status IS 'Each image as the pgext background worker last saw it (shared memory)';
CREATE VIEW pgext.health AS SELECT * FROM pgext.health();
COMMENT ON VIEW pgext.health IS 'ok, degraded or failing, with the reasons (shared memory)';

CREATE FUNCTION pgext.report() RETURNS jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT jsonb_build_object(
  'generated_at', now(),
  'in_recovery', pg_is_in_recovery(),
  'health', (SELECT to_jsonb(h) FROM pgext.health() h),
  'worker', (SELECT to_jsonb(w) FROM pgext.worker_status() w),
  'images', coalesce((SELECT jsonb_agg(to_jsonb(i) ORDER BY i.image) FROM pgext.image_status() i), '[]'),
  'problems', coalesce((
    SELECT jsonb_agg(jsonb_build_object('image', i.image, 'status', i.status, 'mounted', i.mounted,
             'error_code', i.error_code, 'error', i.last_error, 'problems', i.problems, 'problem', i.problem)
           ORDER BY i.image)
      FROM pgext.image_status() i
     WHERE i.status IN ('drift', 'tag_moved', 'unreachable', 'error') OR i.problems > 0
        OR (i.pinned AND NOT i.mounted) OR cardinality(i.incompatible_extensions) > 0), '[]'),
  'incompatible_extensions', coalesce((
    SELECT jsonb_agg(jsonb_build_object('image', i.image, 'extension', e) ORDER BY i.image, e)
      FROM pgext.image_status() i, unnest(i.incompatible_extensions) e), '[]')
)
$$;
COMMENT ON FUNCTION pgext.report() IS 'Health, worker, images and problems as one jsonb document, for tooling';

-- Status is for monitoring (pg_monitor, as CloudNativePG's exporter); waking the worker is for
-- pgext_admin and superusers; the history is read by pg_monitor and pruned by pgext_admin.
REVOKE ALL ON FUNCTION pgext.worker_status(), pgext.image_status(), pgext.health(), pgext.report(),
  pgext.check_now(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.worker_status(), pgext.image_status(), pgext.health(), pgext.report()
  TO pg_monitor, pgext_admin;
GRANT EXECUTE ON FUNCTION pgext.check_now(boolean) TO pgext_admin;
REVOKE ALL ON pgext.worker_status, pgext.image_status, pgext.health, pgext.check_runs, pgext.findings FROM PUBLIC;
GRANT SELECT ON pgext.worker_status, pgext.image_status, pgext.health, pgext.check_runs, pgext.findings
  TO pg_monitor, pgext_admin;
GRANT SELECT, DELETE ON pgext.check_runs, pgext.findings TO pgext_admin;
