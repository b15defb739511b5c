-- Server files extension scripts read while they run (COPY … FROM 'file'), against what
-- CREATE EXTENSION really does. The images are $FX/datafiles/<image> (make-tree.sh): baked reads
-- the server's own share directory, as Debian's postgresql-unit does, while its data file is only
-- in the image; mounted reads its file where its image is; relative reads a path relative to the
-- data directory, where nothing is; called COPYs in a PL/pgSQL function its script creates and
-- then calls (unit 7's unit_load()). Each is put alone on extension_control_path.
CREATE FUNCTION datafile_oracle(img text)
RETURNS TABLE (image text, predicted bool, codes text[], created bool, state text, error text, agree bool)
LANGUAGE plpgsql AS $$
DECLARE
  ext text := 'pgext_datafile_' || img;
BEGIN
  PERFORM set_config('extension_control_path',
                     '$system:' || current_setting('regress.fx') || '/datafiles/' || img || '/share', true);
  image := img;
  SELECT m.compatible, m.problems INTO predicted, codes
    FROM pgext.mounted_extensions m WHERE m.name = ext AND m.visible;
  BEGIN
    EXECUTE format('CREATE EXTENSION %I', ext);
    created := true;
  EXCEPTION WHEN OTHERS THEN
    created := false;
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, error = MESSAGE_TEXT;
    error := n(error);
  END;
  agree := predicted = created;
  RETURN NEXT;
END $$;

\c
BEGIN; SELECT * FROM datafile_oracle('baked'); ROLLBACK;
\c
BEGIN; SELECT * FROM datafile_oracle('mounted'); ROLLBACK;
\c
BEGIN; SELECT * FROM datafile_oracle('relative'); ROLLBACK;
\c
BEGIN; SELECT * FROM datafile_oracle('called'); ROLLBACK;
\c
BEGIN;
SELECT set_config('extension_control_path',
                  '$system:' || current_setting('regress.fx') || '/datafiles/called/share', true) IS NOT NULL AS set;
SELECT f->>'script' AS script, f->>'line' AS line, n(f->>'path') AS path, f->>'state' AS state, f->'via' AS via
  FROM pgext.check_extension('pgext_datafile_called') j, jsonb_array_elements(j->'script_file_reads') f;
ROLLBACK;

-- What pgext says and where it looked: the problem names the script, line and path, and the
-- hint where the image has the file; check_extension() lists every file read.
\c
BEGIN;
SELECT set_config('extension_control_path',
                  '$system:' || current_setting('regress.fx') || '/datafiles/baked/share', true) IS NOT NULL AS set;
SELECT d->>'code' AS code, d->>'severity' AS severity, n(d->>'message') AS message
  FROM pgext.mounted_extensions, jsonb_array_elements(problem_details) d
 WHERE name = 'pgext_datafile_baked' AND visible;
SELECT f->>'script' AS script, f->>'line' AS line, f->>'kind' AS kind, n(f->>'path') AS path,
       f->>'state' AS state, n(f->>'in_image') AS in_image
  FROM pgext.check_extension('pgext_datafile_baked') j, jsonb_array_elements(j->'script_file_reads') f;
ROLLBACK;
\c
BEGIN;
SELECT set_config('extension_control_path',
                  '$system:' || current_setting('regress.fx') || '/datafiles/relative/share', true) IS NOT NULL AS set;
-- A relative path is opened in the data directory: that is where pgext looked.
SELECT f->>'path' AS path, f->>'state' AS state,
       f->>'looked_up' = current_setting('data_directory') || '/pgext_datafile_relative.data' AS in_data_directory
  FROM pgext.check_extension('pgext_datafile_relative') j, jsonb_array_elements(j->'script_file_reads') f;
ROLLBACK;
