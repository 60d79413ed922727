// The bare FUSE floor of bench/fs_read.py: a minimal libfuse3 low-level file system that
// serves fixed texts, set up like sysvisor-fs (multi-threaded loop with clone_fd, at most 8
// workers, all kept idle; entries and attributes cached 1 s; allow_other and default_permissions;
// direct_io on every open), so an open+read+close of one of its files costs the FUSE round
// trips and nothing else.
//
//   fuse_floor MOUNTPOINT FILE...
//
// Each FILE is read once at start and served read-only, flat in the root, under its base name.
// SIGTERM or SIGINT ends the loop and unmounts. Built by fs_read.py with
// `cc -O2 fuse_floor.c $(pkg-config --cflags --libs fuse3)`.
#define FUSE_USE_VERSION 312
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILES 64
#define ROOT 1  // FUSE_ROOT_ID; files are nodes 2..

struct File {
  const char* name;
  char* data;
  size_t size;
};

static struct File files[MAX_FILES];
static int nfiles;
static const double kTimeout = 1.0;

static void attrOf(fuse_ino_t ino, struct stat* st) {
  memset(st, 0, sizeof *st);
  st->st_ino = ino;
  if (ino == ROOT) {
    st->st_mode = S_IFDIR | 0555;
    st->st_nlink = 2;
  } else {
    st->st_mode = S_IFREG | 0444;  // size 0, like procfs and sysvisor-fs
    st->st_nlink = 1;
  }
  st->st_blksize = 4096;
}

static struct File* fileOf(fuse_ino_t ino) {
  return ino >= 2 && ino < (fuse_ino_t)nfiles + 2 ? &files[ino - 2] : NULL;
}

static void opLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (parent != ROOT) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  for (int i = 0; i < nfiles; ++i) {
    if (strcmp(files[i].name, name) != 0) continue;
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    e.ino = (fuse_ino_t)i + 2;
    e.attr_timeout = e.entry_timeout = kTimeout;
    attrOf(e.ino, &e.attr);
    fuse_reply_entry(req, &e);
    return;
  }
  fuse_reply_err(req, ENOENT);
}

static void opGetattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  (void)fi;
  if (ino != ROOT && !fileOf(ino)) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  struct stat st;
  attrOf(ino, &st);
  fuse_reply_attr(req, &st, kTimeout);
}

static void opOpen(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  if (ino == ROOT) {
    fuse_reply_err(req, EISDIR);
  } else if (!fileOf(ino)) {
    fuse_reply_err(req, ENOENT);
  } else if ((fi->flags & O_ACCMODE) != O_RDONLY) {
    fuse_reply_err(req, EACCES);
  } else {
    fi->direct_io = 1;
    fi->keep_cache = 0;
    fuse_reply_open(req, fi);
  }
}

static void opRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info* fi) {
  (void)fi;
  struct File* f = fileOf(ino);
  if (!f) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  size_t from = (size_t)off < f->size ? (size_t)off : f->size;
  size_t n = f->size - from < size ? f->size - from : size;
  fuse_reply_buf(req, f->data + from, n);
}

static void opRelease(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  (void)ino;
  (void)fi;
  fuse_reply_err(req, 0);
}

static void opReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                      struct fuse_file_info* fi) {
  (void)fi;
  if (ino != ROOT) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  char* buf = calloc(1, size);
  if (!buf) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  size_t used = 0;
  for (off_t i = off; i < nfiles + 2; ++i) {
    struct stat st;
    const char* name = i == 0 ? "." : i == 1 ? ".." : files[i - 2].name;
    attrOf(i < 2 ? ROOT : (fuse_ino_t)i, &st);
    size_t need = fuse_add_direntry(req, buf + used, size - used, name, &st, i + 1);
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf, used);
  free(buf);
}

static const struct fuse_lowlevel_ops ops = {
    .lookup = opLookup,
    .getattr = opGetattr,
    .open = opOpen,
    .read = opRead,
    .release = opRelease,
    .readdir = opReaddir,
};

static int load(const char* path) {
  if (nfiles == MAX_FILES) return -1;
  FILE* in = fopen(path, "r");
  if (!in) return -1;
  struct File* f = &files[nfiles];
  size_t cap = 4096;
  f->data = malloc(cap);
  while (f->data) {
    f->size += fread(f->data + f->size, 1, cap - f->size, in);
    if (f->size < cap) break;
    cap *= 2;
    f->data = realloc(f->data, cap);
  }
  int bad = ferror(in) || !f->data;
  fclose(in);
  if (bad) return -1;
  const char* slash = strrchr(path, '/');
  f->name = slash ? slash + 1 : path;
  ++nfiles;
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: fuse_floor MOUNTPOINT FILE...\n");
    return 2;
  }
  for (int i = 2; i < argc; ++i) {
    if (load(argv[i]) != 0) {
      fprintf(stderr, "fuse_floor: cannot load '%s': %s\n", argv[i], strerror(errno));
      return 1;
    }
  }
  char* args_v[] = {argv[0], "-o", "allow_other,default_permissions,fsname=svfloor,subtype=svfloor",
                    NULL};
  struct fuse_args args = FUSE_ARGS_INIT(3, args_v);
  struct fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, NULL);
  if (!se) return 1;
  if (fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, argv[1]) != 0) {
    fuse_session_destroy(se);
    return 1;
  }
  struct fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 1);
  fuse_loop_cfg_set_max_threads(cfg, 8);
  fuse_loop_cfg_set_idle_threads(cfg, 8);
  int rc = fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  // The loop reports the signal that ended it (fuse_set_signal_handlers): a clean stop.
  return rc == 0 || rc == SIGTERM || rc == SIGINT ? 0 : 1;
}
