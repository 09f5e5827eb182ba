#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

/* One 16-byte record per socket fd of every process: (tgid << 32 | fd,
 * inode). Threads share their leader's table: only leaders are read. */
SEC("iter/task_file")
int dump_task_file(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	if (!task || !file)
		return 0;
	if (task->tgid != task->pid) /* threads share the leader's table */
		return 0;
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	if (!inode)
		return 0;
	umode_t mode = BPF_CORE_READ(inode, i_mode);
	if ((mode & 00170000) != 0140000) /* S_IFSOCK */
		return 0;
	__u64 rec[2];
	rec[0] = ((__u64)task->tgid << 32) | ctx->fd;
	rec[1] = BPF_CORE_READ(inode, i_ino);
	bpf_seq_write(seq, rec, sizeof rec);
	return 0;
}
