/* The owner walk in the kernel: a task-file iterator that writes one record
 * per socket fd of every process, (pid, inode), in a single read() of its
 * fd, instead of a getdents64 and a readlinkat per fd under /proc. Built
 * with clang -target bpf against the running kernel's BTF (CO-RE), loaded by
 * src/core/owners_bpf.c. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

/* One record per socket fd; the layout owners_bpf.c reads. */
struct owner_rec {
  __u32 pid; /* the process (thread-group leader) in the reader's pid namespace */
  __u32 fd;
  __u64 inode;
};

/* Processes (leaders) with an fd table the iterator visited. The iterator
 * runs on one CPU, in order, under one read(): plain globals are enough. */
__u64 processes = 0;
static __u32 last_tgid = 0, last_pid = 0;

/* The pid of a leader as the reader sees it: the iterator only visits tasks
 * of the reader's pid namespace, which sits at the reader's level of every
 * such task's pid. Level 0 (no pid namespace) is read directly; a variable
 * index needs a probe read. */
static __always_inline __u32 pid_for_reader(struct task_struct *task) {
  struct task_struct *me = bpf_get_current_task_btf();
  unsigned int level = me->thread_pid->level;
  struct pid *p = task->thread_pid;
  __u32 nr = 0;
  if (!p || p->level < level) return 0;
  if (level == 0) return p->numbers[0].nr;
  bpf_core_read(&nr, sizeof nr, &p->numbers[level].nr);
  return nr;
}

SEC("iter/task_file")
int owners_iter(struct bpf_iter__task_file *ctx) {
  struct task_struct *task = ctx->task;
  struct file *file = ctx->file;
  if (!task || !file) return 0;
  /* /proc/PID/fd is the leader's table; a thread sharing it is skipped by
   * the kernel, one with a table of its own (unshare(CLONE_FILES)) by us */
  if (task->tgid != task->pid) return 0;
  if ((__u32)task->tgid != last_tgid) { /* a task's fds come in a row */
    last_tgid = task->tgid;
    last_pid = pid_for_reader(task);
    processes++;
  }
  /* direct loads of trusted BTF pointers: cheaper than probe-read helpers */
  struct inode *inode = file->f_inode;
  if (!inode || !last_pid) return 0;
  if ((inode->i_mode & 00170000) != 0140000) return 0; /* S_IFSOCK */
  struct owner_rec rec = {.pid = last_pid, .fd = ctx->fd, .inode = inode->i_ino};
  bpf_seq_write(ctx->meta->seq, &rec, sizeof rec);
  return 0;
}
