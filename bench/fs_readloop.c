// The timing loop of bench/fs_read.py, so that no interpreter overhead is counted: one
// operation is open(O_RDONLY) + read() until EOF + close() of one file, as `cat` does it.
//
//   fs_readloop lat   PATH ITERATIONS [WARMUP [RAW]]  per-op ns: mean p50 p90 p99 min max;
//                                                     RAW: also every op's ns, int64 native
//   fs_readloop split PATH ITERATIONS [WARMUP]   the same, and open / reads / close apart
//   fs_readloop tput  PATH SECONDS NPROC         NPROC forked readers started together;
//                                                total ops/s (sum of each reader's rate)
//
// Prints one line of key=value pairs on stdout; on any failed call, the call, the path and
// errno on stderr, exit status 1. Built by fs_read.py with `cc -O2`.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// 128 KiB: FUSE's largest read by default, more than any emulated file's text.
static char buf[128 * 1024];

static int64_t nowNs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char* call, const char* path) {
  fprintf(stderr, "fs_readloop: %s '%s': %s\n", call, path, strerror(errno));
  exit(1);
}

static int openOrDie(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open", path);
  return fd;
}

static size_t readAllOrDie(int fd, const char* path) {
  size_t total = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("read", path);
    }
    if (n == 0) return total;
    total += (size_t)n;
  }
}

static void closeOrDie(int fd, const char* path) {
  if (close(fd) != 0) die("close", path);
}

static size_t oneOp(const char* path) {
  int fd = openOrDie(path);
  size_t n = readAllOrDie(fd, path);
  closeOrDie(fd, path);
  return n;
}

static int cmpI64(const void* a, const void* b) {
  int64_t x = *(const int64_t*)a, y = *(const int64_t*)b;
  return (x > y) - (x < y);
}

// Nearest-rank percentile of a sorted array.
static int64_t pct(const int64_t* v, long n, double p) {
  long i = (long)(p / 100.0 * (double)n + 0.999999) - 1;
  if (i < 0) i = 0;
  if (i >= n) i = n - 1;
  return v[i];
}

static void printStats(const char* prefix, int64_t* v, long n) {
  double sum = 0;
  for (long i = 0; i < n; ++i) sum += (double)v[i];
  qsort(v, (size_t)n, sizeof *v, cmpI64);
  printf(" %smean=%.0f %sp50=%lld %sp90=%lld %sp99=%lld %smin=%lld %smax=%lld", prefix,
         sum / (double)n, prefix, (long long)pct(v, n, 50), prefix, (long long)pct(v, n, 90),
         prefix, (long long)pct(v, n, 99), prefix, (long long)v[0], prefix, (long long)v[n - 1]);
}

static void writeRaw(const char* raw, const int64_t* v, long n) {
  FILE* out = fopen(raw, "wb");
  if (!out || fwrite(v, sizeof *v, (size_t)n, out) != (size_t)n || fclose(out) != 0)
    die("write", raw);
}

static int latency(const char* path, long iters, long warmup, int split, const char* raw) {
  int64_t* total = calloc((size_t)iters, sizeof *total);
  int64_t* op[3] = {NULL, NULL, NULL};
  if (!total) die("calloc", path);
  if (split) {
    for (int k = 0; k < 3; ++k)
      if (!(op[k] = calloc((size_t)iters, sizeof(int64_t)))) die("calloc", path);
  }
  size_t bytes = 0;
  for (long i = 0; i < warmup; ++i) bytes = oneOp(path);
  for (long i = 0; i < iters; ++i) {
    if (!split) {
      int64_t t0 = nowNs();
      bytes = oneOp(path);
      total[i] = nowNs() - t0;
      continue;
    }
    int64_t t0 = nowNs();
    int fd = openOrDie(path);
    int64_t t1 = nowNs();
    bytes = readAllOrDie(fd, path);
    int64_t t2 = nowNs();
    closeOrDie(fd, path);
    int64_t t3 = nowNs();
    total[i] = t3 - t0;
    op[0][i] = t1 - t0;
    op[1][i] = t2 - t1;
    op[2][i] = t3 - t2;
  }
  if (raw) writeRaw(raw, total, iters);
  printf("n=%ld bytes=%zu", iters, bytes);
  printStats("", total, iters);
  if (split) {
    printStats("open_", op[0], iters);
    printStats("read_", op[1], iters);
    printStats("close_", op[2], iters);
  }
  printf("\n");
  return 0;
}

// Each reader waits on the start pipe, runs for `seconds` by its own clock, then writes
// "ops elapsed_ns" to the result pipe.
static int throughput(const char* path, double seconds, int nproc) {
  int start[2], result[2];
  if (pipe(start) != 0 || pipe(result) != 0) die("pipe", path);
  oneOp(path);  // fail here, before forking, if the path is unreadable
  for (int r = 0; r < nproc; ++r) {
    pid_t pid = fork();
    if (pid < 0) die("fork", path);
    if (pid > 0) continue;
    close(start[1]);
    char go;
    if (read(start[0], &go, 1) < 0) die("read start pipe", path);
    int64_t t0 = nowNs(), deadline = t0 + (int64_t)(seconds * 1e9), t = t0;
    long ops = 0;
    while (t < deadline) {
      oneOp(path);
      ++ops;
      t = nowNs();
    }
    char line[64];
    int len = snprintf(line, sizeof line, "%ld %lld\n", ops, (long long)(t - t0));
    if (write(result[1], line, (size_t)len) != len) die("write result pipe", path);
    _exit(0);
  }
  close(start[0]);
  close(result[1]);
  close(start[1]);  // EOF on the start pipe releases every reader at once
  FILE* in = fdopen(result[0], "r");
  long ops = 0, got = 0;
  double rate = 0, longest = 0;
  long o;
  long long ns;
  while (in && fscanf(in, "%ld %lld", &o, &ns) == 2) {
    ops += o;
    rate += (double)o / ((double)ns / 1e9);
    if ((double)ns / 1e9 > longest) longest = (double)ns / 1e9;
    ++got;
  }
  int failed = 0;
  for (int r = 0; r < nproc; ++r) {
    int status = 0;
    if (wait(&status) < 0) die("wait", path);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
  }
  if (failed || got != nproc) {
    fprintf(stderr, "fs_readloop: %ld of %d readers of '%s' reported\n", got, nproc, path);
    return 1;
  }
  printf("procs=%d ops=%ld seconds=%.3f ops_per_s=%.0f\n", nproc, ops, longest, rate);
  return 0;
}

static int usage(void) {
  fprintf(stderr,
          "usage: fs_readloop lat PATH ITERATIONS [WARMUP [RAW]]\n"
          "       fs_readloop split PATH ITERATIONS [WARMUP]\n"
          "       fs_readloop tput PATH SECONDS NPROC\n");
  return 2;
}

int main(int argc, char** argv) {
  if (argc < 4) return usage();
  const char* mode = argv[1];
  const char* path = argv[2];
  if (!strcmp(mode, "lat") || !strcmp(mode, "split")) {
    long iters = atol(argv[3]), warmup = argc > 4 ? atol(argv[4]) : iters / 10;
    const char* raw = argc > 5 && !strcmp(mode, "lat") ? argv[5] : NULL;
    if (iters < 1 || warmup < 0) return usage();
    return latency(path, iters, warmup, !strcmp(mode, "split"), raw);
  }
  if (!strcmp(mode, "tput") && argc == 5) {
    double seconds = atof(argv[3]);
    int nproc = atoi(argv[4]);
    if (seconds <= 0 || nproc < 1 || nproc > 64) return usage();
    return throughput(path, seconds, nproc);
  }
  return usage();
}
