-- Everything a database knows about the installed pgext, one sorted line per fact: every
-- extension member (pg_depend deptype 'e', described by pg_describe_object), the columns,
-- defaults, constraints, indexes, view and function definitions of each, privileges (one line per
-- grant, from aclexplode), comments, configuration-dump registrations and domains. Two
-- databases with the same lines have the same pgext schema.
\pset tuples_only on
\pset format unaligned
WITH ext AS (
  SELECT oid, extconfig, extcondition FROM pg_catalog.pg_extension WHERE extname = 'pgext'
), members AS (
  SELECT d.classid, d.objid, d.objsubid
    FROM pg_catalog.pg_depend d, ext
   WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), rels AS (
  SELECT c.oid, c.relkind, c.relacl FROM members m JOIN pg_catalog.pg_class c
      ON m.classid = 'pg_catalog.pg_class'::regclass AND c.oid = m.objid
), procs AS (
  SELECT p.oid, p.proacl FROM members m JOIN pg_catalog.pg_proc p
      ON m.classid = 'pg_catalog.pg_proc'::regclass AND p.oid = m.objid
), types AS (
  SELECT t.oid, t.typtype, t.typbasetype, t.typtypmod, t.typnotnull, t.typacl FROM members m JOIN pg_catalog.pg_type t
      ON m.classid = 'pg_catalog.pg_type'::regclass AND t.oid = m.objid
), acl(what, acl) AS (
  SELECT pg_catalog.pg_describe_object('pg_catalog.pg_class'::regclass, oid, 0), relacl FROM rels
  UNION ALL SELECT pg_catalog.pg_describe_object('pg_catalog.pg_proc'::regclass, oid, 0), proacl FROM procs
  UNION ALL SELECT pg_catalog.pg_describe_object('pg_catalog.pg_type'::regclass, oid, 0), typacl FROM types
  UNION ALL SELECT 'schema pgext', nspacl FROM pg_catalog.pg_namespace WHERE nspname = 'pgext'
), facts(line) AS (
  SELECT 'member ' || pg_catalog.pg_describe_object(classid, objid, objsubid) FROM members
  UNION ALL
  SELECT format('column %s #%s %s %s%s%s%s', a.attrelid::regclass,
                row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum), a.attname,
                pg_catalog.format_type(a.atttypid, a.atttypmod),
                CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                coalesce(' default ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), ''),
                CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END)
    FROM rels r JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  UNION ALL
  SELECT format('constraint %s %s %s', coalesce(c.conrelid::regclass::text, c.contypid::regtype::text),
                c.conname, pg_catalog.pg_get_constraintdef(c.oid))
    FROM pg_catalog.pg_constraint c
   WHERE c.conrelid IN (SELECT oid FROM rels) OR c.contypid IN (SELECT oid FROM types)
  UNION ALL
  SELECT 'index ' || pg_catalog.pg_get_indexdef(i.indexrelid)
    FROM pg_catalog.pg_index i WHERE i.indrelid IN (SELECT oid FROM rels)
  UNION ALL
  SELECT format('view %s %s', oid::regclass, pg_catalog.pg_get_viewdef(oid)) FROM rels WHERE relkind IN ('v', 'm')
  UNION ALL
  SELECT format('function %s', pg_catalog.pg_get_functiondef(oid)) FROM procs
  UNION ALL
  SELECT format('domain %s %s%s', oid::regtype, pg_catalog.format_type(typbasetype, typtypmod),
                CASE WHEN typnotnull THEN ' not null' ELSE '' END)
    FROM types WHERE typtype = 'd'
  UNION ALL
  SELECT format('grant %s to %s by %s: %s%s', acl.what,
                CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE e.grantee::regrole::text END,
                e.grantor::regrole, e.privilege_type, CASE WHEN e.is_grantable THEN ' with grant option' ELSE '' END)
    FROM acl, LATERAL pg_catalog.aclexplode(acl.acl) e
  UNION ALL
  SELECT format('default privileges %s', acl.what) FROM acl WHERE acl.acl IS NULL
  UNION ALL
  SELECT format('comment %s: %s', pg_catalog.pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description)
    FROM pg_catalog.pg_description d
   WHERE (d.classoid, d.objoid) IN (SELECT classid, objid FROM members)
      OR (d.classoid = 'pg_catalog.pg_namespace'::regclass
          AND d.objoid = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'pgext'))
  UNION ALL
  SELECT format('config dump %s %s', c::regclass, coalesce(ext.extcondition[i], ''))
    FROM ext, LATERAL unnest(ext.extconfig) WITH ORDINALITY AS u(c, i)
)
SELECT line FROM facts ORDER BY line COLLATE "C";
