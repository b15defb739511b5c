/*
 * Ground truth for the elf tests: dlopen each argument with RTLD_NOW | RTLD_GLOBAL (as
 * PostgreSQL does), each in a forked child so constructors cannot disturb the next one.
 * Prints "OK\t<path>" or "FAIL\t<path>\t<dlerror>"; a child that dies prints nothing.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
	{
		pid_t		pid;

		fflush(stdout);
		pid = fork();
		if (pid == 0)
		{
			void	   *handle;
			int			devnull = open("/dev/null", O_WRONLY);

			alarm(20);
			if (devnull >= 0)
				dup2(devnull, 2);
			handle = dlopen(argv[i], RTLD_NOW | RTLD_GLOBAL);
			if (handle)
				printf("OK\t%s\n", argv[i]);
			else
				printf("FAIL\t%s\t%s\n", argv[i], dlerror());
			fflush(stdout);
			_exit(0);
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
	return 0;
}
