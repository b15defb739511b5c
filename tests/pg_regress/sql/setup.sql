-- Runs first: machine-specific paths become database settings, and n() replaces them with
-- $FX (fixtures), $SHAREDIR, $PKGLIBDIR and the loopback registries' addresses, so the
-- expected output is the same everywhere.
\getenv fx PGEXT_FIXTURES
\getenv sharedir PGEXT_SHAREDIR
\getenv pkglibdir PGEXT_PKGLIBDIR
\getenv read_only PGEXT_READ_ONLY
\getenv registry PGEXT_REGISTRY
\getenv registry_auth PGEXT_REGISTRY_AUTH
\getenv silent PGEXT_SILENT
SELECT set_config('regress.fx', :'fx', false) IS NOT NULL AS fx,
       set_config('regress.sharedir', :'sharedir', false) IS NOT NULL AS sharedir,
       set_config('regress.pkglibdir', :'pkglibdir', false) IS NOT NULL AS pkglibdir,
       set_config('regress.read_only', :'read_only', false) IS NOT NULL AS read_only,
       set_config('regress.registry', :'registry', false) IS NOT NULL AS registry,
       set_config('regress.registry_auth', :'registry_auth', false) IS NOT NULL AS registry_auth,
       set_config('regress.silent', :'silent', false) IS NOT NULL AS silent;
DO $$
DECLARE s text;
BEGIN
  FOREACH s IN ARRAY ARRAY['fx', 'sharedir', 'pkglibdir', 'read_only', 'registry', 'registry_auth', 'silent'] LOOP
    EXECUTE format('ALTER DATABASE %I SET regress.%s = %L', current_database(), s,
                   current_setting('regress.' || s));
  END LOOP;
END $$;
CREATE FUNCTION n(t text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT replace(replace(replace(replace(replace(replace(t,
           current_setting('regress.fx'), '$FX'),
           current_setting('regress.sharedir'), '$SHAREDIR'),
           current_setting('regress.pkglibdir'), '$PKGLIBDIR'),
           current_setting('regress.registry_auth'), '$REGISTRY_AUTH'),
           current_setting('regress.registry'), '$REGISTRY'),
           current_setting('regress.silent'), '$SILENT')
$$;
CREATE FUNCTION n(t text[]) RETURNS text[] LANGUAGE sql STABLE AS $$
  SELECT array_agg(n(x) ORDER BY o) FROM unnest(t) WITH ORDINALITY AS u(x, o)
$$;
SELECT extname, extversion FROM pg_extension WHERE extname = 'pgext';
