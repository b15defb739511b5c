-- pgext.libraries: every *.so PostgreSQL can load by name, and every image's OS library.
SELECT basename, image, source, position, n(shadowed_by) AS shadowed_by, referenced_by, problems
  FROM pgext.libraries WHERE image IS NOT NULL OR shadowed_by IS NOT NULL
    OR basename = 'pg_stat_statements.so'
 ORDER BY source, position, basename;

-- Sizes and SHA-256 are those of the files, for every row (PostgreSQL's own sha256() as oracle).
SELECT count(*) > 50 AS many,
       bool_and(size = (pg_stat_file(path)).size) AS sizes_match,
       bool_and(sha256 = encode(sha256(pg_read_binary_file(path)), 'hex')) AS digests_match
  FROM pgext.libraries;

-- A basename in $libdir and in an image: $libdir comes first on the path and wins; the
-- shadowed copy is byte-for-byte the same file here.
SELECT a.image, n(a.shadowed_by) AS shadowed_by, a.sha256 = b.sha256 AS same_content
  FROM pgext.libraries a JOIN pgext.libraries b ON b.path = a.shadowed_by
 WHERE a.basename = 'pg_stat_statements.so';

-- Repeated queries reuse digests; reset_hash_cache() forces a full re-read with equal results.
CREATE TEMP TABLE before AS SELECT path, sha256 FROM pgext.libraries;
SELECT pgext.reset_hash_cache() > 0 AS dropped_some;
SELECT pgext.reset_hash_cache() AS now_empty;
SELECT count(*) AS changed FROM pgext.libraries l JOIN before b USING (path) WHERE l.sha256 IS DISTINCT FROM b.sha256;

-- Privileges: superusers and pg_monitor only.
CREATE ROLE pgext_regress_nobody;
SET ROLE pgext_regress_nobody;
SELECT count(*) FROM pgext.libraries;
SELECT pgext.reset_hash_cache();
RESET ROLE;
DROP ROLE pgext_regress_nobody;
