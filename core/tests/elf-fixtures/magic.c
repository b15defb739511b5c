/*
 * A PostgreSQL module's magic block, written out by hand (no PostgreSQL headers).
 * Compiled by the elf tests with -DLAYOUT=18|17|14|12 and optionally -DWITH_NAME,
 * -DOPAQUE (an instruction the decoder does not follow, forcing the data-section scan),
 * -DABI_EXTRA='"..."', -DVERSION_NUM=...., -DNO_LIBC (for -m32 -nostdlib builds).
 */
#ifndef LAYOUT
#define LAYOUT 18
#endif
#ifndef ABI_EXTRA
#define ABI_EXTRA "PostgreSQL"
#endif
#ifndef VERSION_NUM
#define VERSION_NUM (LAYOUT * 100)
#endif

#if LAYOUT >= 18
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
#ifdef WITH_NAME
#define MAGIC_DATA { sizeof(Pg_magic_struct), { VERSION_NUM, 100, 32, 64, 1, ABI_EXTRA }, "fixture", "1.2.3" }
#else
#define MAGIC_DATA { sizeof(Pg_magic_struct), { VERSION_NUM, 100, 32, 64, 1, ABI_EXTRA }, 0, 0 }
#endif
#elif LAYOUT >= 15
typedef struct
{
	int len, version, funcmaxargs, indexmaxkeys, namedatalen, float8byval;
	char abi_extra[32];
} Pg_magic_struct;
#define MAGIC_DATA { sizeof(Pg_magic_struct), VERSION_NUM, 100, 32, 64, 1, ABI_EXTRA }
#elif LAYOUT >= 13
typedef struct
{
	int len, version, funcmaxargs, indexmaxkeys, namedatalen, float8byval;
} Pg_magic_struct;
#define MAGIC_DATA { sizeof(Pg_magic_struct), VERSION_NUM, 100, 32, 64, 1 }
#else
typedef struct
{
	int len, version, funcmaxargs, indexmaxkeys, namedatalen, float4byval, float8byval;
} Pg_magic_struct;
#define MAGIC_DATA { sizeof(Pg_magic_struct), VERSION_NUM, 100, 32, 64, 1, 1 }
#endif

extern const Pg_magic_struct *Pg_magic_func(void);

const Pg_magic_struct *
Pg_magic_func(void)
{
	static const Pg_magic_struct Pg_magic_data = MAGIC_DATA;
#ifdef OPAQUE
	__asm__ volatile("pause");
#endif
	return &Pg_magic_data;
}

#ifndef NO_LIBC
#include <string.h>

/* Something that needs libc, so the library has DT_NEEDED libc.so.6 and GLIBC versions. */
int
fixture_strlen(const char *s)
{
	return (int) strlen(s);
}
#endif
