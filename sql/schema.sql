COMMENT ON SCHEMA pgext IS 'pgext: inventory, integrity and compatibility of extension images';
-- Every object carries its own privileges; the schema itself is open so that a role without
-- them gets a precise "permission denied for view …".
GRANT USAGE ON SCHEMA pgext TO PUBLIC;
