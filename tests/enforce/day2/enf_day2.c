/*
 * enf_day2.c: a library whose functions PostgreSQL reaches through every kind of fmgr lookup,
 * for the day-2 enforcement test (tests/enforce/run.sh). _PG_init reports, with the file it
 * was opened from, that the library was opened: a refused load must never print it.
 */
#define _GNU_SOURCE
#include "postgres.h"

#include <dlfcn.h>

#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"

PG_MODULE_MAGIC_EXT(.name = "enf_day2", .version = "1.0");

void		_PG_init(void);

/* A local symbol: its address is in this file, never interposed by another module's. */
static void
here(void)
{
}

void
_PG_init(void)
{
	Dl_info		info;

	if (dladdr((void *) here, &info) && info.dli_fname)
		ereport(NOTICE, (errmsg("enf_day2: _PG_init ran in %s", info.dli_fname)));
}

PG_FUNCTION_INFO_V1(d2_in);
PG_FUNCTION_INFO_V1(d2_out);
PG_FUNCTION_INFO_V1(d2_eq);
PG_FUNCTION_INFO_V1(d2_cast);
PG_FUNCTION_INFO_V1(d2_add);
PG_FUNCTION_INFO_V1(d2_cmp);
PG_FUNCTION_INFO_V1(d2_handler);
PG_FUNCTION_INFO_V1(d2_trig);
PG_FUNCTION_INFO_V1(d2_evt);
PG_FUNCTION_INFO_V1(d2_pl);
PG_FUNCTION_INFO_V1(d2_hello);

/* A base type stored as an int4. */
Datum
d2_in(PG_FUNCTION_ARGS)
{
	return DirectFunctionCall1(int4in, PG_GETARG_DATUM(0));
}

Datum
d2_out(PG_FUNCTION_ARGS)
{
	return DirectFunctionCall1(int4out, PG_GETARG_DATUM(0));
}

Datum
d2_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_INT32(0) == PG_GETARG_INT32(1));
}

Datum
d2_cast(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_INT32(0));
}

Datum
d2_add(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_INT32(0) + PG_GETARG_INT32(1));
}

/* btree support function 1 for int4 */
Datum
d2_cmp(PG_FUNCTION_ARGS)
{
	int32		a = PG_GETARG_INT32(0);
	int32		b = PG_GETARG_INT32(1);

	PG_RETURN_INT32(a < b ? -1 : (a > b ? 1 : 0));
}

/* An index access method: btree's, under another name. */
Datum
d2_handler(PG_FUNCTION_ARGS)
{
	return bthandler(fcinfo);
}

/* BEFORE ROW trigger: keeps the row. */
Datum
d2_trig(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "d2_trig: not called as a trigger");
	return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple);
}

/* Event trigger: does nothing. */
Datum
d2_evt(PG_FUNCTION_ARGS)
{
	PG_RETURN_VOID();
}

/* Procedural-language call handler: every function of the language returns 42. */
Datum
d2_pl(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(42);
}

Datum
d2_hello(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text("hello from enf_day2"));
}
