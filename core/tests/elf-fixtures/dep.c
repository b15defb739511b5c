/*
 * A dependency in two releases, like GEOS: built with -DNEW it defines a newer symbol and the
 * newer symbol version DEP_2.0 (see dep.map); without, only DEP_1.0.
 */
int
dep_old_function(void)
{
	return 1;
}

#ifdef NEW
int
GEOSCoverageCleanParams_create(void)
{
	return 2;
}
#endif
