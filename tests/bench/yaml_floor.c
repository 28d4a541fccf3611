/*
 * yaml_floor - the floor for a full pass: libyaml's raw event parse of
 * every manifest file under DIR, nothing built from the events.
 *
 * usage: yaml_floor DIR  -> prints "<files> files <events> events"
 */
#define _GNU_SOURCE 1
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static unsigned long files, events;

static int parse(const char *path)
{
  FILE *f = fopen(path, "rb");
  yaml_parser_t p;
  yaml_event_t e;
  int done = 0;

  if (!f)
    return -1;
  yaml_parser_initialize(&p);
  yaml_parser_set_input_file(&p, f);
  while (!done) {
    if (!yaml_parser_parse(&p, &e)) {
      fprintf(stderr, "%s: %s\n", path, p.problem);
      break;
    }
    done = e.type == YAML_STREAM_END_EVENT;
    events++;
    yaml_event_delete(&e);
  }
  yaml_parser_delete(&p);
  fclose(f);
  files++;
  return done ? 0 : -1;
}

static int walk(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *ent;
  int rc = 0;

  if (!d)
    return -1;
  while ((ent = readdir(d)) != NULL) {
    char path[4096];
    size_t n = strlen(ent->d_name);

    if (ent->d_name[0] == '.')
      continue;
    snprintf(path, sizeof(path), "%s/%s", dir, ent->d_name);
    if (ent->d_type == DT_DIR)
      rc |= walk(path);
    else if ((n > 5 && strcmp(ent->d_name + n - 5, ".yaml") == 0) ||
             (n > 4 && strcmp(ent->d_name + n - 4, ".yml") == 0))
      rc |= parse(path);
  }
  closedir(d);
  return rc;
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: yaml_floor DIR\n");
    return 2;
  }
  if (walk(argv[1]) != 0)
    return 1;
  printf("%lu files %lu events\n", files, events);
  return 0;
}
