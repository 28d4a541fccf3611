/*
 * procstats.h - the process' own resource use, from /proc/self, for the
 * standard process_* metrics every Prometheus client exposes:
 *
 *   process_cpu_seconds_total       user + system CPU time
 *   process_resident_memory_bytes   resident set size
 *   process_virtual_memory_bytes    virtual memory size
 *   process_open_fds                file descriptors open
 *   process_max_fds                 the soft limit on them
 *   process_start_time_seconds      when the process started (Unix time)
 *
 * Reading is a few small reads of procfs, cheap enough for every scrape.
 * Linux only; elsewhere procstats_read fails and the metrics are left out.
 */
#ifndef TD_PROCSTATS_H
#define TD_PROCSTATS_H

#include "base/compat.h"

struct procstats {
  double cpu_seconds;
  double resident_bytes, virtual_bytes;
  double open_fds, max_fds;
  double start_time; /* Unix time, seconds */
};

/* 0, or -1 with td_error_last() when /proc cannot be read. */
int procstats_read(struct procstats *out);

/* The same from the text of /proc/self/stat and /proc/stat, with the
 * clock's ticks per second and the page size (tests). */
int procstats_parse(const char *self_stat, const char *stat, long ticks,
                    long page, struct procstats *out);

#endif
