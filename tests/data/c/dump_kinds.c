/* Exercises every kind bpftool's raw and JSON dumps print: built with
 * gcc -gbtf, gcc -g + pahole -J, and clang -target bpfel/bpfeb (tests/test_dump.py). */
#include <stddef.h>

typedef unsigned long long u64;
typedef signed char s8;

enum small { SMALL_A, SMALL_B = 5, SMALL_C = 0x7fffffff };
enum negative { NEG_MIN = -2147483647 - 1, NEG_ONE = -1, NEG_ZERO = 0 };
enum wide64 { WIDE_LOW = 1, WIDE_HIGH = 0xffffffffffffffffULL };
enum wide64s { WS_NEG = -9223372036854775807LL - 1, WS_POS = 0x100000000LL };
enum unsigned_top { UT_TOP = 0xffffffffu, UT_ONE = 1 };

struct bits {
	unsigned int a : 3;
	unsigned int b : 5;
	int c : 7;
	unsigned long long d : 40;
	char tail;
	_Bool flag : 1;
};

union number {
	int i;
	float f;
	double d;
	long double ld;
	unsigned char raw[16];
};

struct inner {
	int x, y;
};

struct outer {
	struct inner in;
	struct {
		int anon_a;
		union {
			long anon_b;
			void *anon_p;
		};
	};
	struct inner arr[4][2];
	const volatile int *cvp;
	char *restrict rp;
	int (*callback)(int, const char *, ...);
	void (*handlers[3])(void);
	enum small sm;
	struct forward_only *fwd;
	union forward_union *fwdu;
	char flex[];
};

typedef int (*binop_t)(int, int);
typedef const struct outer outer_t;

int global_counter = 42;
static volatile long static_counter;
const char greeting[] = "hi";
struct outer the_outer;
union number a_number;
struct bits some_bits;
enum negative neg_value = NEG_ONE;
enum wide64 wide_value = WIDE_HIGH;
enum wide64s wide_signed = WS_NEG;
enum unsigned_top top_value = UT_TOP;
binop_t op_table[2];
outer_t *outer_ptr;
s8 small_signed;
u64 big_unsigned;
float *float_ptr;

#ifdef __clang__
/* Tags: only clang emits DECL_TAG and TYPE_TAG. */
#define __tag(x) __attribute__((btf_decl_tag(x)))
#define __tt(x) __attribute__((btf_type_tag(x)))
struct tagged {
	int __tag("member_tag") value;
	int __tt("user") *user_ptr;
} __tag("struct_tag");
struct tagged tagged_value __tag("var_tag");
int __tag("func_tag") tagged_func(int __tag("param_tag") x) { return x + tagged_value.value; }
#endif

static int add(int a, int b) { return a + b + (int)static_counter; }

int apply(binop_t op, int a, int b) { return op ? op(a, b) : add(a, b); }

#ifndef __bpf__ /* BPF functions cannot be variadic */
int variadic(const char *fmt, ...) { return fmt[0]; }
#endif

void *use_everything(struct outer *o, union number *n, struct bits *b)
{
	op_table[0] = add;
	return (char *)o + n->i + b->a + sizeof(the_outer) + neg_value + wide_value;
}
