/* Stands in for the postgres executable: exports server_function (link with -rdynamic). */
#include <stdio.h>

int
server_function(void)
{
	return 3;
}

int
main(void)
{
	printf("%d\n", server_function());
	return 0;
}
