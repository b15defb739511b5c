/*
 * _PG_init variants for the preload analysis (core/src/elf/preload.rs), written without
 * PostgreSQL headers: the declarations below match PostgreSQL 18's, and `ereport` expands as
 * elog.h's does (errstart_cold for a constant level >= ERROR, then errmsg and errfinish).
 * Compiled by the elf tests with one -DCASE_<name>.
 */
#include <stdbool.h>
#include <stddef.h>

extern bool process_shared_preload_libraries_in_progress;
extern bool IsBinaryUpgrade;
extern int some_setting;
extern bool errstart(int elevel, const char *domain);
extern bool errstart_cold(int elevel, const char *domain) __attribute__((cold));
extern int errmsg(const char *fmt, ...);
extern void errfinish(const char *filename, int lineno, const char *funcname);
typedef enum { PGC_INTERNAL, PGC_POSTMASTER, PGC_SIGHUP, PGC_SU_BACKEND, PGC_BACKEND, PGC_SUSET, PGC_USERSET } GucContext;
extern void DefineCustomBoolVariable(const char *name, const char *short_desc, const char *long_desc,
	bool *valueAddr, bool bootValue, GucContext context, int flags, void *check, void *assign, void *show);
extern void DefineCustomIntVariable(const char *name, const char *short_desc, const char *long_desc,
	int *valueAddr, int bootValue, int minValue, int maxValue, GucContext context, int flags,
	void *check, void *assign, void *show);
extern void DefineCustomRealVariable(const char *name, const char *short_desc, const char *long_desc,
	double *valueAddr, double bootValue, double minValue, double maxValue, GucContext context, int flags,
	void *check, void *assign, void *show);
extern void DefineCustomStringVariable(const char *name, const char *short_desc, const char *long_desc,
	char **valueAddr, const char *bootValue, GucContext context, int flags, void *check, void *assign, void *show);
extern void DefineCustomEnumVariable(const char *name, const char *short_desc, const char *long_desc,
	int *valueAddr, int bootValue, const void *options, GucContext context, int flags,
	void *check, void *assign, void *show);
extern void RegisterBackgroundWorker(void *worker);
extern void RequestAddinShmemSpace(size_t size);
extern void (*shmem_request_hook)(void);
extern void MarkGUCPrefixReserved(const char *className);
extern void *dlopen(const char *file, int mode);
extern void **find_rendezvous_variable(const char *varName);
static bool fixture_loader_present = true;
bool fixture_backend_only;

#define WARNING 19
#define ERROR 21
#define FATAL 22
#define ereport(elevel, ...) \
	do { \
		if (__builtin_constant_p(elevel) && (elevel) >= ERROR ? \
			errstart_cold(elevel, NULL) : errstart(elevel, NULL)) \
		{ \
			__VA_ARGS__; \
			errfinish(__FILE__, __LINE__, __func__); \
		} \
		if (__builtin_constant_p(elevel) && (elevel) >= ERROR) \
			__builtin_unreachable(); \
	} while (0)

static int ival;
static bool bval;
static double rval;
static char *sval;
static int eval;
static const struct { const char *name; int val; bool hidden; } options[] = {{"a", 1, false}, {NULL, 0, false}};

static void
define_gucs(GucContext ctx)
{
	DefineCustomIntVariable("fixture.max", "m", NULL, &ival, 5, 0, 100, ctx, 0, NULL, NULL, NULL);
}

void *fixture_handle;

/* mysql_fdw's mysql_load_library(): a local function around dlopen() */
static __attribute__((noinline)) bool
open_client(const char *name)
{
	fixture_handle = dlopen(name, 1);
	return fixture_handle != NULL;
}

void _PG_init(void);

void
_PG_init(void)
{
#if defined(CASE_REFUSE)
	/* pgaudit, pg_cron, citus */
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR, errmsg("fixture must be loaded via shared_preload_libraries"));
	DefineCustomBoolVariable("fixture.on", "o", NULL, &bval, true, PGC_SUSET, 0, NULL, NULL, NULL);
#elif defined(CASE_REFUSE_FATAL_LATE)
	DefineCustomBoolVariable("fixture.on", "o", NULL, &bval, true, PGC_SUSET, 0, NULL, NULL, NULL);
	if (some_setting > 3)
		DefineCustomStringVariable("fixture.s", "s", NULL, &sval, "x", PGC_USERSET, 0, NULL, NULL, NULL);
	if (process_shared_preload_libraries_in_progress == false)
		ereport(FATAL, errmsg("fixture: preload me"));
#elif defined(CASE_RETURN_EARLY)
	extern void request(void);
	/* pg_stat_statements */
	if (!process_shared_preload_libraries_in_progress)
		return;
	define_gucs(PGC_POSTMASTER);
	shmem_request_hook = request;
#elif defined(CASE_POSTMASTER_INT)
	define_gucs(PGC_POSTMASTER);
#elif defined(CASE_POSTMASTER_BOOL)
	DefineCustomBoolVariable("fixture.on", "o", NULL, &bval, true, PGC_POSTMASTER, 0, NULL, NULL, NULL);
#elif defined(CASE_POSTMASTER_ENUM)
	DefineCustomEnumVariable("fixture.e", "e", NULL, &eval, 1, options, PGC_POSTMASTER, 0, NULL, NULL, NULL);
#elif defined(CASE_POSTMASTER_REAL)
	DefineCustomRealVariable("fixture.r", "r", NULL, &rval, 1.0, 0.0, 2.0, PGC_POSTMASTER, 0, NULL, NULL, NULL);
#elif defined(CASE_SUSET_ONLY)
	DefineCustomRealVariable("fixture.r", "r", NULL, &rval, 1.0, 0.0, 2.0, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("fixture.e", "e", NULL, &eval, 1, options, PGC_USERSET, 0, NULL, NULL, NULL);
	define_gucs(PGC_SIGHUP);
#elif defined(CASE_GUARDED_GUC)
	define_gucs(process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SUSET);
#elif defined(CASE_UNRELATED_ERROR)
	if (some_setting == 42)
		ereport(ERROR, errmsg("something else is wrong"));
	if (!process_shared_preload_libraries_in_progress)
		return;
	RegisterBackgroundWorker(NULL);
#elif defined(CASE_WARNING_ONLY)
	/* pg_qualstats */
	if (!process_shared_preload_libraries_in_progress)
		ereport(WARNING, errmsg("only this backend's statistics"));
	DefineCustomBoolVariable("fixture.on", "o", NULL, &bval, true, PGC_USERSET, 0, NULL, NULL, NULL);
#elif defined(CASE_BINARY_UPGRADE)
	if (!process_shared_preload_libraries_in_progress)
		ereport(IsBinaryUpgrade ? WARNING : ERROR, errmsg("fixture can only be loaded via shared_preload_libraries"));
#elif defined(CASE_SHMEM_DIRECT)
	RequestAddinShmemSpace(1024);
#elif defined(CASE_PLAIN)
	DefineCustomBoolVariable("fixture.on", "o", NULL, &bval, true, PGC_USERSET, 0, NULL, NULL, NULL);
#elif defined(CASE_GLOBAL_FLAG)
	/* pg_qualstats: the flag kept in a variable, the context chosen from it later */
	fixture_backend_only = !process_shared_preload_libraries_in_progress;
	DefineCustomBoolVariable("fixture.on", "o", NULL, &bval, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("fixture.resolve", "r", NULL, &bval, false,
		fixture_backend_only ? PGC_USERSET : PGC_POSTMASTER, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("fixture");
#elif defined(CASE_DLOPEN_REQUIRED)
	/* mysql_fdw: its client library opened at run time, an ERROR when that fails */
	if (!open_client("libpgext_fixture_absent.so.1"))
		ereport(ERROR, errmsg("failed to load the client library"));
	DefineCustomBoolVariable("fixture.on", "o", NULL, &bval, true, PGC_USERSET, 0, NULL, NULL, NULL);
#elif defined(CASE_DLOPEN_OPTIONAL)
	/* an optional helper: nothing fails without it */
	fixture_handle = dlopen("libpgext_fixture_absent.so.1", 1);
#elif defined(CASE_DLOPEN_PRESENT)
	if (!open_client("libm.so.6"))
		ereport(ERROR, errmsg("no libm"));
#elif defined(CASE_REFUSE_PRELOAD)
	/* pgtt: refuses to be preloaded; the errors after that are about other conditions */
	if (process_shared_preload_libraries_in_progress)
		ereport(FATAL, errmsg("fixture can not be loaded using shared_preload_libraries"));
	if (some_setting == 0)
		ereport(ERROR, errmsg("fixture: not in a transaction"));
	DefineCustomBoolVariable("fixture.on", "o", NULL, &bval, true, PGC_USERSET, 0, NULL, NULL, NULL);
#elif defined(CASE_REFUSE_THEN_CHECK)
	/* preload-only, and preloading can fail on a setting: still "unless preloaded" */
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR, errmsg("fixture must be loaded via shared_preload_libraries"));
	if (some_setting == 3)
		ereport(FATAL, errmsg("fixture: bad setting"));
	DefineCustomBoolVariable("fixture.on", "o", NULL, &bval, true, PGC_USERSET, 0, NULL, NULL, NULL);
#elif defined(CASE_LOADER)
	/* timescaledb.so: preload-only, announces itself to the library it loads later */
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR, errmsg("fixture loader must be loaded via shared_preload_libraries"));
	*find_rendezvous_variable("fixture.loader_present") = &fixture_loader_present;
	DefineCustomBoolVariable("fixture.on", "o", NULL, &bval, true, PGC_USERSET, 0, NULL, NULL, NULL);
#elif defined(CASE_VERSIONED)
	/* timescaledb-2.x.so: refuses unless preloaded or loaded by its preloaded loader */
	if (!process_shared_preload_libraries_in_progress)
	{
		void **present = find_rendezvous_variable("fixture.loader_present");

		if (*present == NULL || !*(bool *) *present)
			ereport(FATAL, errmsg("extension fixture must be preloaded"));
	}
	DefineCustomBoolVariable("fixture.on", "o", NULL, &bval, true, PGC_USERSET, 0, NULL, NULL, NULL);
#elif defined(CASE_UNKNOWN_CONTEXT)
	define_gucs((GucContext) some_setting);
#else
#error "no CASE_ given"
#endif
}
