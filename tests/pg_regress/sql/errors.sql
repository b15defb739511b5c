-- Every error a user can cause carries a real SQLSTATE (never XX000, "internal error") and a
-- hint where one helps; the same bad value raises the same SQLSTATE wherever it is read.
CREATE FUNCTION pg_temp.raised(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE state text; hint text;
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, hint = PG_EXCEPTION_HINT;
  RETURN state || CASE WHEN hint <> '' THEN ' (hint: ' || hint || ')' ELSE '' END;
END $$;

-- Bad arguments.
SELECT q, pg_temp.raised(q) FROM (VALUES
  ($$SELECT pgext.pin_image('../x', 'a/b:1')$$),
  ($$SELECT pgext.pin_image('probe', 'no such reference!')$$),
  ($$SELECT pgext.pin_image('probe', 'oci:/etc/x:1')$$),
  ($$SELECT * FROM pgext.verify_image('nowhere')$$),
  ($$SELECT pgext.check_extension('no_such_thing')$$)
) AS t(q);

-- A pgext.images value that cannot be parsed: the same SQLSTATE from every reader.
ALTER SYSTEM SET pgext.images = 'not a pin';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT current_setting('pgext.images') AS images;
SELECT q, pg_temp.raised(q) FROM (VALUES
  ($$SELECT * FROM pgext.image_pins$$),
  ($$SELECT * FROM pgext.mounted_images$$),
  ($$SELECT * FROM pgext.verify_images()$$),
  ($$SELECT * FROM pgext.recheck_image('vector')$$)
) AS t(q);
ALTER SYSTEM RESET pgext.images;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT current_setting('pgext.images') <> 'not a pin' AS images_restored;

-- A table of pgext whose column type differs from what the library reads (a schema older than
-- the library): 55000 with a hint to update, not XX000.
BEGIN;
SELECT pgext.pin_image('probe', 'registry.example/probe:1');
ALTER TABLE pgext.pins ALTER COLUMN reference TYPE int USING 0;
SELECT pg_temp.raised($$SELECT * FROM pgext.image_pins$$);
ROLLBACK;
