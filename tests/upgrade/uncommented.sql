-- Every pgext-owned table, view, index, domain and function, and every column of a table or
-- view, that has no COMMENT: one line each. Empty output means \d+ and \df+ explain everything.
\pset tuples_only on
\pset format unaligned
WITH ext AS (
  SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'pgext'
), members AS (
  SELECT d.classid, d.objid FROM pg_catalog.pg_depend d, ext
   WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), objects(classid, objid, subid) AS (
  SELECT m.classid, m.objid, 0 FROM members m
    LEFT JOIN pg_catalog.pg_class c ON m.classid = 'pg_catalog.pg_class'::regclass AND c.oid = m.objid
    LEFT JOIN pg_catalog.pg_type t ON m.classid = 'pg_catalog.pg_type'::regclass AND t.oid = m.objid
   WHERE m.classid = 'pg_catalog.pg_proc'::regclass
      OR c.relkind IN ('r', 'p', 'v', 'm', 'i')
      OR t.typtype = 'd'
  UNION ALL
  SELECT 'pg_catalog.pg_class'::regclass, a.attrelid, a.attnum
    FROM members m JOIN pg_catalog.pg_class c ON m.classid = 'pg_catalog.pg_class'::regclass AND c.oid = m.objid
    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
   WHERE c.relkind IN ('r', 'p', 'v', 'm')
)
SELECT what FROM (
  SELECT pg_catalog.pg_describe_object(o.classid, o.objid, o.subid) AS what
    FROM objects o
   WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_description d
                      WHERE d.classoid = o.classid AND d.objoid = o.objid AND d.objsubid = o.subid)
) u ORDER BY what COLLATE "C";
