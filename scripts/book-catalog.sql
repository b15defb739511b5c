-- The book's generated reference, as one JSON document from a server with pgext installed (and
-- preloaded, so that every pgext.* setting is registered): settings as gucs.rs registers them,
-- and every pgext view, table and function with its COMMENT, columns, types and grants.
\pset tuples_only on
\pset format unaligned
WITH ext AS (
  SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'pgext'
), members AS (
  SELECT d.classid, d.objid FROM pg_catalog.pg_depend d, ext
   WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
)
SELECT pg_catalog.jsonb_pretty(pg_catalog.jsonb_build_object(
  'settings', (
    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
             'name', s.name, 'vartype', s.vartype, 'unit', s.unit, 'context', s.context,
             'short_desc', s.short_desc, 'extra_desc', NULLIF(s.extra_desc, ''),
             'enumvals', s.enumvals, 'min_val', s.min_val, 'max_val', s.max_val,
             'default', pg_catalog.current_setting(s.name), 'source', s.source) ORDER BY s.name)
      FROM pg_catalog.pg_settings s WHERE s.name LIKE 'pgext.%'),
  'relations', (
    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
             'name', c.relname, 'kind', c.relkind,
             'comment', pg_catalog.obj_description(c.oid, 'pg_class'),
             'readers', (SELECT coalesce(pg_catalog.jsonb_agg(DISTINCT g.who), '[]')
                           FROM pg_catalog.aclexplode(c.relacl) e,
                                LATERAL (SELECT CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE e.grantee::regrole::text END) g(who)
                          WHERE e.privilege_type = 'SELECT' AND g.who <> (SELECT r.rolname FROM pg_catalog.pg_roles r WHERE r.oid = c.relowner)),
             'columns', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                  'name', a.attname, 'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
                                  'comment', pg_catalog.col_description(c.oid, a.attnum)) ORDER BY a.attnum)
                           FROM pg_catalog.pg_attribute a
                          WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped))
           ORDER BY c.relname)
      FROM members m JOIN pg_catalog.pg_class c ON m.classid = 'pg_catalog.pg_class'::regclass AND c.oid = m.objid
     WHERE c.relkind IN ('r', 'v')),
  'functions', (
    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
             'name', p.proname, 'args', pg_catalog.pg_get_function_arguments(p.oid),
             'result', pg_catalog.pg_get_function_result(p.oid),
             'comment', pg_catalog.obj_description(p.oid, 'pg_proc'),
             'executors', (SELECT coalesce(pg_catalog.jsonb_agg(DISTINCT g.who), '[]')
                             FROM pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) e,
                                  LATERAL (SELECT CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE e.grantee::regrole::text END) g(who)
                            WHERE e.privilege_type = 'EXECUTE' AND e.grantee <> p.proowner))
           ORDER BY p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid))
      FROM members m JOIN pg_catalog.pg_proc p ON m.classid = 'pg_catalog.pg_proc'::regclass AND p.oid = m.objid)
));
