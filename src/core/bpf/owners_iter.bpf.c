/* The owner walk in the kernel: a task-file iterator that writes one record
 * per socket fd of every process, (pid, inode), in a single read() of its
 * fd, instead of a getdents64 and a readlinkat per fd under /proc. Built
 * with clang -target bpf against the running kernel's BTF (CO-RE), loaded by
 * src/core/owners_bpf.c. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

/* The records owners_bpf.c reads: for each fd table visited, a marker
 * (inode 0, followed by the process's facts) at its first file, then one
 * record per socket in it. */
struct owner_rec {
  __u32 pid;   /* the process (thread group) in the reader's pid namespace */
  __u32 tid;   /* 0: the leader's table; else the thread whose table it is */
  __u64 inode; /* the socket's inode; 0: the marker */
};

/* What /proc/PID/comm says, and which set of cgroups /proc/PID/cgroup
 * lists: both the leader's, as there. A task's css_set is its cgroup in
 * every hierarchy (v2 and any v1), shared by the tasks of the same ones:
 * tasks with the same set have the same /proc/PID/cgroup. The reader then
 * opens neither file per process: the cgroup file once per set. The set's
 * address is only compared, never shown, and leaves the kernel mixed with
 * css_set_key (random, set by the reader before the walk). */
struct owner_mark {
  struct owner_rec rec;
  char comm[16];
  __u64 css_set; /* 0: unknown */
};

/* The iterator runs on one CPU, in order, under one read(): plain globals
 * are enough to tell a task's first file. When a file's records do not fit
 * in what is left of the read's buffer, the kernel drops all this run wrote
 * and, at the next read(), runs the same (task, fd) again, or the task's
 * next fd if that one was closed meanwhile: the marker is owed (mark_owed)
 * until a run that wrote it was kept. Between two read()s the kernel holds
 * no task: the last one may exit and its memory go to a task forked
 * meanwhile, so a task is known by its address and its kernel tid both. */
static __u64 last_task = 0;
static __u32 last_kernel_tid = 0, last_pid = 0, last_tid = 0, mark_owed = 0;
static struct owner_mark mark;
__u64 css_set_key = 0;

/* The pid of a task as the reader sees it: the iterator only visits tasks
 * of the reader's pid namespace, which sits at the reader's level of every
 * such task's pid. Read with probe reads, once per task: a direct load of a
 * pointer field makes the verifier search the kernel's BTF by name (for the
 * type's trusted-field list), at every load on every path it explores, and
 * that search was most of the program's ~5 ms load. */
/* struct upid (nr first, 16 bytes since Linux 4.15; task-file iterators
 * need 5.8): an element of pid->numbers. Its size was fixed into the
 * program by the array index anyway (CO-RE does not relocate a variable
 * index's stride), and declaring it here spares libbpf a scan of the
 * kernel's BTF for one more relocated type. */
struct upid_abi {
  int nr;
  void *ns;
};

static __always_inline __u32 pid_for_reader(struct task_struct *task, unsigned int level) {
  struct pid *p = BPF_CORE_READ(task, thread_pid);
  __u32 nr = 0;
  if (!p || BPF_CORE_READ(p, level) < level) return 0;
  const struct upid_abi *numbers = (const void *)((const char *)p + bpf_core_field_offset(struct pid, numbers));
  bpf_probe_read_kernel(&nr, sizeof nr, &numbers[level].nr);
  return nr;
}

/* The iterator's context, declared here rather than taken from vmlinux.h:
 * every struct there is relocated at load (CO-RE), and each relocated type
 * costs libbpf a scan of the kernel's whole BTF (~0.7 ms of CPU here). This
 * layout is the iterator's ABI (bpf_iter__task_file: one 8-byte slot per
 * argument of DEFINE_BPF_ITER_FUNC, as since Linux 5.8; bpf_iter_meta's seq
 * first), and the verifier checks each access against the kernel's own. */
struct iter_meta {
  struct seq_file *seq;
  __u64 session_id;
  __u64 seq_num;
};
struct iter_task_file {
  struct iter_meta *meta;
  struct task_struct *task;
  __u32 fd;
  struct file *file;
};

/* /proc/PID/fd is the leader's table. The kernel visits a thread only when
 * its table is not the leader's (it unshared it, or the leader exited and
 * left none); which one /proc's walk would read instead is decided by the
 * reader from the markers. */
SEC("iter/task_file")
int owners_iter(struct iter_task_file *ctx) {
  struct task_struct *task = ctx->task;
  struct file *file = ctx->file;
  if (!task || !file) return 0;
  if ((__u64)task != last_task || (__u32)task->pid != last_kernel_tid) { /* its first file */
    last_task = (__u64)task;
    last_kernel_tid = task->pid;
    unsigned int level = BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), thread_pid, level);
    struct task_struct *leader = BPF_CORE_READ(task, group_leader);
    last_pid = pid_for_reader(leader, level);
    last_tid = task->tgid == task->pid ? 0 : pid_for_reader(task, level);
    mark_owed = last_pid != 0;
    if (mark_owed) {
      mark.rec.pid = last_pid;
      mark.rec.tid = last_tid;
      mark.rec.inode = 0;
      if (bpf_core_read_str(mark.comm, sizeof mark.comm, &leader->comm) < 0) mark.comm[0] = 0;
      __u64 set = (__u64)BPF_CORE_READ(leader, cgroups);
      mark.css_set = set ? set ^ css_set_key : 0;
    }
  }
  int kept = 1; /* bpf_seq_write fails when the buffer is full: then the kernel drops the run */
  if (mark_owed) kept = bpf_seq_write(ctx->meta->seq, &mark, sizeof mark) == 0;
  /* direct loads of trusted BTF pointers: cheaper than probe-read helpers */
  struct inode *inode = file->f_inode;
  if (inode && last_pid && (inode->i_mode & 00170000) == 0140000 /* S_IFSOCK */ && inode->i_ino) {
    struct owner_rec rec = {.pid = last_pid, .tid = last_tid, .inode = inode->i_ino};
    kept = kept && bpf_seq_write(ctx->meta->seq, &rec, sizeof rec) == 0;
  }
  if (kept) mark_owed = 0;
  return 0;
}
