/* A small out-of-tree module for btfkit encode tests: per-CPU variables, bitfields, anonymous
 * members, multi-dimensional arrays, function pointers, signed and 64-bit enums, varargs. */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/percpu.h>
#include <linux/list.h>

struct encb_thing {
	struct list_head node;
	unsigned int a:3, b:5;
	union { int x; long y; };
	char name[16];
	int grid[2][3];
	void (*cb)(struct encb_thing *, int);
	enum { ENCB_A = -1, ENCB_B = 5 } e;
};

enum encb_big { ENCB_BIG = 0x100000000ULL };

static DEFINE_PER_CPU(struct encb_thing, encb_pcpu);
DEFINE_PER_CPU(int, encb_counter);
struct encb_thing encb_global;
enum encb_big encb_bigv;

static noinline int encb_static_fn(struct encb_thing *t, int k)
{
	return t->a + k + this_cpu_read(encb_counter);
}

noinline int encb_exported(struct encb_thing *t, ...)
{
	return encb_static_fn(t, 3) + (int)encb_bigv;
}
EXPORT_SYMBOL(encb_exported);

static int __init encb_init(void)
{
	INIT_LIST_HEAD(&encb_global.node);
	pr_info("encb %d\n", encb_exported(this_cpu_ptr(&encb_pcpu)));
	return 0;
}

static void __exit encb_exit(void) { }

module_init(encb_init);
module_exit(encb_exit);
MODULE_LICENSE("GPL");
