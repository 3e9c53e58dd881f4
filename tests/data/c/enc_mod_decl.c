/* Second test module: per-CPU variables declared in a header and defined here (DWARF
 * DW_AT_specification), a static per-CPU array, notrace and inline functions, a local struct,
 * unions of bitfields, a flexible array, and kernel types (spinlock, work, timer). */
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <linux/timer.h>

struct encd_stats {
	u64 hits;
	u32 flags : 4, kind : 12, : 0;
	union {
		struct { u16 lo, hi; };
		u32 both;
	};
	spinlock_t lock;
	struct work_struct work;
	struct timer_list timer;
	unsigned long data[];
};

DECLARE_PER_CPU(struct encd_stats, encd_percpu_stats);
DEFINE_PER_CPU(struct encd_stats, encd_percpu_stats);
static DEFINE_PER_CPU(unsigned long [4], encd_slots);
static struct encd_stats *encd_global;

static inline u32 encd_mix(u32 a) { return a * 2654435761u; }

static notrace noinline u32 encd_notrace(const struct encd_stats *s)
{
	return encd_mix(s->both) ^ s->kind;
}

noinline void encd_work_fn(struct work_struct *w)
{
	struct encd_local { int a; char b[3]; } loc = { 1, { 2 } };
	struct encd_stats *s = container_of(w, struct encd_stats, work);

	s->hits += loc.a + encd_notrace(s) + this_cpu_read(encd_slots[1]);
}
EXPORT_SYMBOL_GPL(encd_work_fn);

static int __init encd_init(void)
{
	encd_global = this_cpu_ptr(&encd_percpu_stats);
	INIT_WORK(&encd_global->work, encd_work_fn);
	return 0;
}

static void __exit encd_exit(void) { }

module_init(encd_init);
module_exit(encd_exit);
MODULE_LICENSE("GPL");
