-- Every kind of lookup of one copy's functions, in a new session (psql variables: s, op, ddl).
SELECT d2_hello_:s();
SELECT '7'::d2_:s;
SELECT 1 :op 1 AS operator;
SELECT (5::int4::d2_:s) IS NOT NULL AS cast;
SELECT d2_sum_:s(g) FROM generate_series(1, 10) g;
SET enable_seqscan = off;
SELECT count(*) AS index_am FROM d2_t_:s WHERE x = CAST(5 AS :typ);
INSERT INTO d2_opc_:s VALUES (5);
SELECT count(*) AS opclass FROM d2_opc_:s WHERE x = CAST(5 AS :typ);
RESET enable_seqscan;
INSERT INTO d2_trig_t_:s VALUES (1);
:ddl;
SELECT d2_in_pl_:s() AS pl_handler;
SELECT module_name, file_name FROM pg_get_loaded_modules() WHERE module_name = 'enf_day2';
