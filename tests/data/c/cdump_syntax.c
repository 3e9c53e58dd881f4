/* C dumper test input: declarations (pointers, qualifiers, arrays, function
 * pointers, anonymous and nested types, enums, typedefs, va_list).
 * Compiled with -fno-eliminate-unused-debug-types so every type reaches BTF. */
#include <stdarg.h>

typedef unsigned int u32;
typedef int (*binop_t)(int, int);
typedef void (*handler_t)(void);
typedef int vararg_fn(const char *fmt, ...);

enum color { RED, GREEN = 5, BLUE };
enum sgn { NEG = -3, ZERO = 0, POS = 2 };
enum wide { WIDE_ONE = 1, WIDE_HUGE = 0x1234567890ULL };
enum { ANON_A = 10, ANON_B };

struct node {
	struct node *next;
	struct node **pprev;
	const char *name;
	u32 flags;
};

struct fnptrs {
	int (*cb)(struct node *, void *);
	void (*arr[4])(int);
	int (*(*ret_fp)(int))(long);
	binop_t op;
	vararg_fn *vf;
	handler_t h;
	void (*noargs)();
	struct node *(*make)(const char *name, unsigned long len);
};

struct arrays {
	int m[2][3][4];
	char *strs[2][5];
	int (*pa)[5];
	int (*ppa[3])[7];
	unsigned char len;
	char data[];
};

struct quals {
	const volatile int cv;
	int *const cp;
	int *restrict rp;
	const char *const names[3];
	volatile unsigned long *vp;
	const struct node *cnode;
};

union value {
	long l;
	double d;
	char bytes[8];
	float f;
};

struct nested {
	union {
		int i;
		float f;
	};
	struct {
		short a, b;
	} pair;
	struct inner {
		int x;
	} in;
	enum { IN_A, IN_B } state;
	struct {
		struct {
			int deep;
		} lvl2;
		union value v;
	} lvl1;
	struct {
		int y;
	} *anon_ptr;
};

struct fwd_only;
union opaque_u;
struct uses_fwd {
	struct fwd_only *p;
	union opaque_u *u;
	struct fwd_only **pp;
};

typedef struct {
	int x, y;
} point_t;
typedef enum { T_A, T_B } tenum_t;
typedef point_t points_t[4];
typedef struct named_td named_td;
struct named_td {
	named_td *self;
	points_t pts;
	tenum_t kind;
};

struct cycle_a;
struct cycle_b {
	struct cycle_a *a;
	int v;
};
struct cycle_a {
	struct cycle_b b;
	struct cycle_a *self;
};

struct floats {
	float f;
	double d;
	long double ld;
	_Bool flag;
	__int128 i128;
	unsigned __int128 u128;
	signed char sc;
	long long ll;
	unsigned short us;
};

struct va_user {
	va_list ap;
	__gnuc_va_list gap;
	int (*vlog)(const char *fmt, va_list ap);
};

struct node global_node;
struct fnptrs global_fnptrs;
struct arrays *global_arrays;
struct quals *global_quals;
struct nested global_nested;
struct uses_fwd global_uses_fwd;
struct named_td global_named;
struct cycle_a global_cycle;
struct floats global_floats;
struct va_user global_va;
enum color global_color;
enum sgn global_sgn;
enum wide global_wide;
point_t global_point;

int use_all(struct nested *n, enum color c, ...)
{
	return n->i + (int)c;
}

void logv(const char *fmt, va_list ap)
{
	(void)fmt;
	(void)ap;
}
