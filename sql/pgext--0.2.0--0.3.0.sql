\echo Use "ALTER EXTENSION pgext UPDATE TO '0.3.0'" to load this file. \quit
-- pgext 0.2.0 -> 0.3.0. tests/upgrade/run.sh proves that this script applied to a 0.2.0 install
-- (and 0.1.0 -> 0.2.0 -> 0.3.0) gives exactly the objects, columns, grants and comments of a
-- fresh 0.3.0 install.
