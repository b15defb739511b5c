/*
 * fixture.c: one source for every library of the upgrade-preflight suite, built with gcc for
 * PostgreSQL 15 (-DPGVER=1500) or 18 (-DPGVER=1800) without either's headers: the magic block
 * and the V1 calling convention are spelled out here, as fmgr.h defines them (PostgreSQL 15's
 * Pg_magic_struct ends after abi_extra; 18's adds the name and version pointers).
 *
 *   -DFGEO_OLD / -DFGEO_NEW  call fgeo_a() (and, new, fgeo_b()) of libfgeo.so.1: the GEOS of the
 *                            issue-11285 mechanism
 *   -DPRELOAD_ONLY           _PG_init raises ERROR unless loaded from shared_preload_libraries
 */
#ifndef PGVER
#error "build with -DPGVER=1500 or -DPGVER=1800"
#endif

typedef unsigned long Datum;
typedef struct
{
	int			len;
	int			version;
	int			funcmaxargs;
	int			indexmaxkeys;
	int			namedatalen;
	int			float8byval;
	char		abi_extra[32];
#if PGVER >= 1800
	const char *name;
	const char *module_version;
#endif
}			magic_t;

/* A newer server copies its own, larger struct from the pointer: keep that read inside. */
static const struct
{
	magic_t		m;
	char		pad[32];
}			magic = {
	{sizeof(magic_t), PGVER, 100, 32, 64, 1, "PostgreSQL"},
	{0},
};

const magic_t *Pg_magic_func(void);
const magic_t *
Pg_magic_func(void)
{
	return &magic.m;
}

typedef struct
{
	int			api_version;
}			Pg_finfo_record;

const Pg_finfo_record *pg_finfo_answer(void);
const Pg_finfo_record *
pg_finfo_answer(void)
{
	static const Pg_finfo_record r = {1};

	return &r;
}

#if defined(FGEO_OLD) || defined(FGEO_NEW)
extern int	fgeo_a(void);
#endif
#ifdef FGEO_NEW
extern int	fgeo_b(void);
#endif

Datum		answer(void *fcinfo);
Datum
answer(void *fcinfo)
{
	int			v = 42;

	(void) fcinfo;
#if defined(FGEO_OLD) || defined(FGEO_NEW)
	v += fgeo_a() - 1;
#endif
#ifdef FGEO_NEW
	v += fgeo_b() - 2;
#endif
	return (Datum) v;
}

#ifdef PRELOAD_ONLY
typedef char bool;
extern bool process_shared_preload_libraries_in_progress;
extern bool errstart(int elevel, const char *domain);
extern int	errmsg(const char *fmt,...);
extern void errfinish(const char *filename, int lineno, const char *funcname);

void		_PG_init(void);
void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
	{
		if (errstart(21 /* ERROR */ , 0))
		{
			errmsg("preloadext must be loaded via shared_preload_libraries");
			errfinish(__FILE__, __LINE__, __func__);
		}
	}
}
#endif
