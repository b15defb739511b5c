/*
 * An extension library using the dependency (dep.c) and a symbol of the "server" (server.c).
 * With -DUSE_NEW it also calls the newer dependency symbol (version DEP_2.0).
 */
extern int dep_old_function(void);
extern int server_function(void);
#ifdef USE_NEW
extern int GEOSCoverageCleanParams_create(void);
#endif
#ifdef USE_MISSING
extern int symbol_nobody_defines(void);
#endif
extern int weak_nobody_defines(void) __attribute__((weak));

int
user_function(void)
{
	int r = dep_old_function() + server_function();
#ifdef USE_NEW
	r += GEOSCoverageCleanParams_create();
#endif
#ifdef USE_MISSING
	r += symbol_nobody_defines();
#endif
	if (weak_nobody_defines)
		r += weak_nobody_defines();
	return r;
}

typedef struct
{
	int version, funcmaxargs, indexmaxkeys, namedatalen, float8byval;
	char abi_extra[32];
} Pg_abi_values;
typedef struct
{
	int len;
	Pg_abi_values abi_fields;
	const char *name;
	const char *version;
} Pg_magic_struct;

const Pg_magic_struct *
Pg_magic_func(void)
{
	static const Pg_magic_struct data = {sizeof(Pg_magic_struct), {1800, 100, 32, 64, 1, "PostgreSQL"}, "user", "0.1"};
	return &data;
}
