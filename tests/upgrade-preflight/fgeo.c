/* libfgeo.so.1: a stand-in for GEOS's libgeos_c.so.1. Version 2 (-DFGEO_V2) adds fgeo_b, as GEOS
 * 3.14 adds GEOSCoverageCleanParams_create under the same soname. */
int			fgeo_a(void);
int
fgeo_a(void)
{
	return 1;
}

#ifdef FGEO_V2
int			fgeo_b(void);
int
fgeo_b(void)
{
	return 2;
}
#endif
