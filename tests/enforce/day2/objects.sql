-- Day-2 objects of one copy of enf_day2 (psql variables: lib = the library as functions name
-- it, s = suffix, op = its operator, typ = the type its index access method and operator classes
-- serve, tag = the command tag its event trigger fires on). Created under
-- pgext.enforce = off, as a site's objects were before it adopted pgext.
CREATE FUNCTION d2_hello_:s() RETURNS text AS :'lib', 'd2_hello' LANGUAGE C STRICT;
CREATE TYPE d2_:s;
CREATE FUNCTION d2_in_:s(cstring) RETURNS d2_:s AS :'lib', 'd2_in' LANGUAGE C IMMUTABLE STRICT;
CREATE FUNCTION d2_out_:s(d2_:s) RETURNS cstring AS :'lib', 'd2_out' LANGUAGE C IMMUTABLE STRICT;
CREATE TYPE d2_:s (INPUT = d2_in_:s, OUTPUT = d2_out_:s, LIKE = int4);
CREATE FUNCTION d2_eq_:s(int4, int4) RETURNS bool AS :'lib', 'd2_eq' LANGUAGE C IMMUTABLE STRICT;
CREATE OPERATOR :op (LEFTARG = int4, RIGHTARG = int4, FUNCTION = d2_eq_:s);
CREATE FUNCTION d2_cast_:s(int4) RETURNS d2_:s AS :'lib', 'd2_cast' LANGUAGE C IMMUTABLE STRICT;
CREATE CAST (int4 AS d2_:s) WITH FUNCTION d2_cast_:s(int4);
CREATE FUNCTION d2_add_:s(int4, int4) RETURNS int4 AS :'lib', 'd2_add' LANGUAGE C IMMUTABLE STRICT;
CREATE AGGREGATE d2_sum_:s(int4) (SFUNC = d2_add_:s, STYPE = int4, INITCOND = '0');
-- Each copy's access method and operator classes serve their own type: PostgreSQL 18's planner
-- consults every operator family of a type it compares (and so their access methods' handlers).
CREATE FUNCTION d2_cmp_:s(:typ, :typ) RETURNS int4 AS :'lib', 'd2_cmp' LANGUAGE C IMMUTABLE STRICT;
CREATE FUNCTION d2_handler_:s(internal) RETURNS index_am_handler AS :'lib', 'd2_handler' LANGUAGE C;
CREATE ACCESS METHOD d2_am_:s TYPE INDEX HANDLER d2_handler_:s;
CREATE OPERATOR CLASS d2_ops_:s DEFAULT FOR TYPE :typ USING d2_am_:s AS
  OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 d2_cmp_:s(:typ, :typ);
CREATE TABLE d2_t_:s (x :typ);
INSERT INTO d2_t_:s SELECT g FROM generate_series(1, 100) g;
CREATE INDEX d2_t_x_:s ON d2_t_:s USING d2_am_:s (x);
CREATE TABLE d2_opc_:s (x :typ);
CREATE OPERATOR CLASS d2_btops_:s FOR TYPE :typ USING btree AS
  OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 d2_cmp_:s(:typ, :typ);
CREATE INDEX d2_opc_x_:s ON d2_opc_:s USING btree (x d2_btops_:s);
CREATE FUNCTION d2_trig_:s() RETURNS trigger AS :'lib', 'd2_trig' LANGUAGE C;
CREATE TABLE d2_trig_t_:s (x int4);
CREATE TRIGGER d2_trig_:s BEFORE INSERT ON d2_trig_t_:s FOR EACH ROW EXECUTE FUNCTION d2_trig_:s();
CREATE FUNCTION d2_evt_:s() RETURNS event_trigger AS :'lib', 'd2_evt' LANGUAGE C;
CREATE EVENT TRIGGER d2_evt_:s ON ddl_command_start WHEN TAG IN (:'tag') EXECUTE FUNCTION d2_evt_:s();
CREATE FUNCTION d2_pl_:s() RETURNS language_handler AS :'lib', 'd2_pl' LANGUAGE C;
CREATE LANGUAGE d2pl_:s HANDLER d2_pl_:s;
CREATE FUNCTION d2_in_pl_:s() RETURNS int4 LANGUAGE d2pl_:s AS 'any body';
