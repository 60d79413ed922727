// sv-stress-reader: a static program the stress tests copy into a system container as
// /stress-reader. It reads the files sysvisor-fs emulates and checks each text is sane.
//
//   stress-reader hold MEMTOTAL_KB
//       reads every file once, prints `ok=1 uptime=… memtotal=…` (or the first problem), then
//       waits to be killed: a container verified running.
//   stress-reader storm MEMTOTAL_KB SECONDS...
//       one round per SECONDS argument: waits for the file /go/<round> (a host directory bound
//       in) and for the time it holds (unix ms, the host's clock: containers share it, so 50
//       of them start together), then opens, reads and closes the files round-robin for
//       SECONDS and prints `reads=N errors=E bad=B memtotal=… first=…`.
//
// MEMTOTAL_KB 0 skips that check. Exit code: 0 when every read succeeded and made sense.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char* kFiles[] = {
    "/proc/meminfo",           "/proc/cpuinfo",
    "/proc/stat",              "/proc/uptime",
    "/proc/loadavg",           "/proc/diskstats",
    "/proc/swaps",             "/proc/sys/kernel/hostname",
    "/proc/sys/kernel/panic",  "/proc/sys/net/ipv4/ip_default_ttl",
    "/proc/sys/fs/nr_open",    "/sys/devices/system/cpu/online",
};
static int kNumFiles = sizeof kFiles / sizeof kFiles[0];

static char gBuf[1 << 18];
static char gFirst[256];
static unsigned long long gMemTotal, gExpectKb;
static double gUptime = -1;

static void note(const char* path, const char* what) {
  if (!gFirst[0]) snprintf(gFirst, sizeof gFirst, "%s:%s", path, what);
}

// Reads path whole into gBuf; returns its length or -errno.
static long readWhole(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  long len = 0;
  for (;;) {
    ssize_t n = read(fd, gBuf + len, sizeof gBuf - 1 - (size_t)len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      return -e;
    }
    if (n == 0 || (size_t)len + (size_t)n >= sizeof gBuf - 1) {
      len += n;
      break;
    }
    len += n;
  }
  close(fd);
  gBuf[len] = '\0';
  return len;
}

// Whether the text of file i makes sense (and what it says, for the summary).
static int sane(int i, long len) {
  const char* p = kFiles[i];
  if (len <= 0 || gBuf[len - 1] != '\n') return 0;
  if (strcmp(p, "/proc/meminfo") == 0) {
    if (sscanf(gBuf, "MemTotal: %llu kB", &gMemTotal) != 1) return 0;
    return gExpectKb == 0 || gMemTotal == gExpectKb;
  }
  if (strcmp(p, "/proc/cpuinfo") == 0) return strncmp(gBuf, "processor", 9) == 0;
  if (strcmp(p, "/proc/stat") == 0) return strncmp(gBuf, "cpu ", 4) == 0;
  if (strcmp(p, "/proc/uptime") == 0) {
    double up, idle;
    // The container's uptime: it started moments ago (the host's is hours or days).
    if (sscanf(gBuf, "%lf %lf", &up, &idle) != 2 || up < 0 || up > 3600) return 0;
    gUptime = up;
    return 1;
  }
  if (strcmp(p, "/proc/loadavg") == 0) {
    double a, b, c;
    int r, t;
    return sscanf(gBuf, "%lf %lf %lf %d/%d", &a, &b, &c, &r, &t) == 5;
  }
  if (strncmp(p, "/proc/sys/", 10) == 0 && strcmp(p, "/proc/sys/kernel/hostname") != 0) {
    char* end;
    strtol(gBuf, &end, 10);
    return end != gBuf && *end == '\n';
  }
  return 1;
}

// One open+read+close of file i; returns 0, or 1 for an error, 2 for a bad text.
static int readOne(int i) {
  long len = readWhole(kFiles[i]);
  if (len < 0) {
    note(kFiles[i], strerror((int)-len));
    return 1;
  }
  if (!sane(i, len)) {
    note(kFiles[i], "bad text");
    return 2;
  }
  return 0;
}

static double nowMs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static _Noreturn void hold(void) {
  int bad = 0;
  for (int i = 0; i < kNumFiles; i++) bad |= readOne(i);
  if (bad)
    printf("ok=0 first=%s\n", gFirst);
  else
    printf("ok=1 uptime=%.2f memtotal=%llu\n", gUptime, gMemTotal);
  fflush(stdout);
  for (;;) pause();
}

// The start time the host wrote to /go/<round>, once it is there.
static double waitStart(int round) {
  char path[32];
  snprintf(path, sizeof path, "/go/%d", round);
  for (;;) {
    FILE* f = fopen(path, "re");
    if (f) {
      double ms = 0;
      int n = fscanf(f, "%lf", &ms);
      fclose(f);
      if (n == 1) return ms;
    }
    usleep(10000);
  }
}

static int storm(int rounds, char** seconds) {
  int rc = 0;
  for (int round = 1; round <= rounds; round++) {
    double startMs = waitStart(round);
    while (nowMs() < startMs) usleep(1000);
    double end = startMs + strtod(seconds[round - 1], NULL) * 1e3;
    unsigned long long reads = 0, errors = 0, bad = 0;
    gFirst[0] = '\0';
    while (nowMs() < end) {
      for (int i = 0; i < kNumFiles; i++) {
        int r = readOne(i);
        reads++;
        errors += r == 1;
        bad += r == 2;
      }
    }
    printf("reads=%llu errors=%llu bad=%llu memtotal=%llu first=%s\n", reads, errors, bad,
           gMemTotal, gFirst[0] ? gFirst : "-");
    fflush(stdout);
    if (errors || bad) rc = 1;
  }
  return rc;
}

int main(int argc, char** argv) {
  // STRESS_READER_FILES=a,b,c: only these (to find which file a problem comes with).
  static char list[1024];
  const char* only = getenv("STRESS_READER_FILES");
  if (only && *only && strlen(only) < sizeof list) {
    strcpy(list, only);
    kNumFiles = 0;
    for (char* tok = strtok(list, ","); tok && kNumFiles < 12; tok = strtok(NULL, ","))
      kFiles[kNumFiles++] = tok;
  }
  if (argc == 3 && strcmp(argv[1], "hold") == 0) {
    gExpectKb = strtoull(argv[2], NULL, 10);
    hold();
  }
  if (argc >= 4 && strcmp(argv[1], "storm") == 0) {
    gExpectKb = strtoull(argv[2], NULL, 10);
    return storm(argc - 3, argv + 3);
  }
  fputs("usage: stress-reader hold MEMTOTAL_KB | storm MEMTOTAL_KB SECONDS...\n",
        stderr);
  return 2;
}
