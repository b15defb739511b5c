-- Runs first: machine-specific paths become database settings, and n() replaces them with
-- $FX (fixtures), $SHAREDIR and $PKGLIBDIR so the expected output is the same everywhere.
\getenv fx PGEXT_FIXTURES
\getenv sharedir PGEXT_SHAREDIR
\getenv pkglibdir PGEXT_PKGLIBDIR
\getenv read_only PGEXT_READ_ONLY
SELECT format('ALTER DATABASE %I SET regress.fx = %L', current_database(), :'fx') \gexec
SELECT format('ALTER DATABASE %I SET regress.sharedir = %L', current_database(), :'sharedir') \gexec
SELECT format('ALTER DATABASE %I SET regress.pkglibdir = %L', current_database(), :'pkglibdir') \gexec
SELECT format('ALTER DATABASE %I SET regress.read_only = %L', current_database(), :'read_only') \gexec
CREATE FUNCTION n(t text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT replace(replace(replace(t, current_setting('regress.fx'), '$FX'),
                 current_setting('regress.sharedir'), '$SHAREDIR'),
                 current_setting('regress.pkglibdir'), '$PKGLIBDIR')
$$;
CREATE FUNCTION n(t text[]) RETURNS text[] LANGUAGE sql STABLE AS $$
  SELECT array_agg(n(x) ORDER BY o) FROM unnest(t) WITH ORDINALITY AS u(x, o)
$$;
SELECT extname, extversion FROM pg_extension WHERE extname = 'pgext';
