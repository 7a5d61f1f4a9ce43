/* Replays a fuzz target's corpus (FUZZ_CORPUS, or the directories given)
 * through LLVMFuzzerTestOneInput, one TAP line per file: make check runs
 * every crash or hang the fuzzers ever found, without libFuzzer. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz.h"

#define FUZZ_INPUT_MAX (1 << 20)

static int replay_dir(const char *dir, int *n)
{
	struct dirent **names = NULL;
	int count = scandir(dir, &names, NULL, alphasort), failed = 0;
	static uint8_t buf[FUZZ_INPUT_MAX];

	if (count < 0) {
		printf("not ok %d - cannot read corpus %s\n", ++*n, dir);
		return 1;
	}
	for (int i = 0; i < count; i++) {
		char path[4096];
		FILE *f;
		size_t len;
		if (names[i]->d_name[0] == '.') {
			free(names[i]);
			continue;
		}
		snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
		f = fopen(path, "rb");
		if (f == NULL) {
			printf("not ok %d - cannot open %s\n", ++*n, path);
			failed = 1;
		} else {
			uint8_t *copy;
			len = fread(buf, 1, sizeof buf, f);
			fclose(f);
			/* An exact-size copy, as libFuzzer gives: ASan sees a read past
			 * the end. A crash ends the program before its TAP line. */
			copy = malloc(len ? len : 1);
			if (copy == NULL) {
				printf("not ok %d - out of memory\n", ++*n);
				free(names[i]);
				continue;
			}
			memcpy(copy, buf, len);
			LLVMFuzzerTestOneInput(copy, len);
			free(copy);
			printf("ok %d - %s (%zu bytes)\n", ++*n, names[i]->d_name, len);
		}
		free(names[i]);
	}
	free(names);
	return failed;
}

int main(int argc, char **argv)
{
	int n = 0, failed = 0;

	if (argc > 1)
		for (int i = 1; i < argc; i++)
			failed |= replay_dir(argv[i], &n);
	else
		failed = replay_dir(FUZZ_CORPUS, &n);
	printf("1..%d\n", n);
	return failed;
}
